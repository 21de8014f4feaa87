namespace DreamBooth.Tests.Training;

/// <summary>Tests that use process-wide state (torch's default generator, native heap statistics) run in this
/// collection: alone, after the parallel ones, so no other test draws or allocates in between.</summary>
[CollectionDefinition(nameof(ProcessWideState), DisableParallelization = true)]
public sealed class ProcessWideState;
