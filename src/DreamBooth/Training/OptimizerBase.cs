namespace DreamBooth.Training;

using System.Globalization;
using System.Text.Json;
using DreamBooth.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

/// <summary>Parameter bookkeeping shared by our optimizers: per-parameter step counts (as torch keeps them in
/// each parameter's state), the step loop, and a state file = one .safetensors (the state tensors, keyed
/// "&lt;parameter name&gt;.&lt;slot&gt;") whose metadata holds the hyper-parameters and step counts as JSON.</summary>
public abstract class OptimizerBase : IOptimizer
{
    private const string Format = "dreambooth-optimizer-state/1";
    private readonly (string Name, Parameter Parameter)[] parameters;
    private readonly long[] steps;
    private bool disposed;

    protected OptimizerBase(IEnumerable<(string Name, Parameter Parameter)> parameters, AdamWOptions? options)
    {
        this.parameters = parameters.ToArray();
        Options = (options ?? new AdamWOptions()).Validated();
        LearningRate = Options.LearningRate;
        steps = new long[this.parameters.Length];
        var names = new HashSet<string>(StringComparer.Ordinal);
        var handles = new HashSet<IntPtr>();
        foreach (var (name, p) in this.parameters)
        {
            if (!names.Add(name)) throw new DreamBoothException($"{Kind}: parameter name '{name}' appears twice.");
            if (!handles.Add(p.Handle)) throw new DreamBoothException($"{Kind}: parameter '{name}' is given twice.");
        }
    }

    /// <summary>Names the parameters by position ("0", "1", ...), like torch's optimizer state_dict.</summary>
    protected static IEnumerable<(string, Parameter)> ByIndex(IEnumerable<Parameter> parameters) =>
        parameters.Select((p, i) => (i.ToString(CultureInfo.InvariantCulture), p));

    /// <summary>Name written to and checked in the state file.</summary>
    public abstract string Kind { get; }

    /// <summary>Hyper-parameters (the learning rate here is the initial one; see <see cref="LearningRate"/>).</summary>
    public AdamWOptions Options { get; private set; }

    public double LearningRate { get; set; }

    public IReadOnlyList<(string Name, Parameter Parameter)> Parameters => parameters;

    /// <summary>How many updates parameter <paramref name="index"/> has received (torch's state["step"]).</summary>
    public long StepCount(int index) => steps[index];

    public void Step()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var noGrad = no_grad();
        for (int i = 0; i < parameters.Length; i++)
        {
            using var grad = parameters[i].Parameter.grad;
            if (grad is null) continue;
            if (grad.is_sparse) throw new DreamBoothException($"{Kind} does not support sparse gradients ('{parameters[i].Name}').");
            EnsureState(i);
            steps[i]++;
            Update(i, parameters[i].Parameter, grad, steps[i]);
        }
    }

    public void ZeroGrad(bool setToNone = true)
    {
        foreach (var (_, p) in parameters)
        {
            if (setToNone)
            {
                p.grad = null;
                continue;
            }
            using var grad = p.grad;
            grad?.zero_();
        }
    }

    public long StateBytes
    {
        get
        {
            long total = 0;
            for (int i = 0; i < parameters.Length; i++)
                foreach (var (_, t) in StateTensors(i)) total += t.NumberOfElements * t.ElementSize;
            return total;
        }
    }

    /// <summary>Allocates the (zero) state of parameter <paramref name="index"/> if it has none yet.</summary>
    protected abstract void EnsureState(int index);

    /// <summary>Drops the state of parameter <paramref name="index"/> (it then restarts from step 0).</summary>
    protected abstract void ClearState(int index);

    /// <summary>The state tensors of parameter <paramref name="index"/> by slot name; empty when it has no state.</summary>
    protected abstract IReadOnlyList<(string Slot, Tensor Tensor)> StateTensors(int index);

    /// <summary>One update of <paramref name="p"/> (under no_grad); <paramref name="step"/> already counts it.</summary>
    protected abstract void Update(int index, Parameter p, Tensor grad, long step);

    /// <summary>Extra hyper-parameters stored with the state and checked on load (e.g. quantization block size).</summary>
    protected virtual IReadOnlyDictionary<string, string> Layout => new Dictionary<string, string>();

    public void Save(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var stepTable = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < parameters.Length; i++)
        {
            var slots = StateTensors(i);
            if (slots.Count == 0) continue;
            stepTable[parameters[i].Name] = steps[i];
            foreach (var (slot, t) in slots) tensors[parameters[i].Name + "." + slot] = t;
        }
        var options = Options with { LearningRate = LearningRate };
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["optimizer"] = Kind,
            ["options"] = JsonSerializer.Serialize(options),
            ["layout"] = JsonSerializer.Serialize(Layout),
            ["steps"] = JsonSerializer.Serialize(stepTable),
        };
        SafeTensorsWriter.Write(path, tensors, metadata);
    }

    public void Load(string path)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var file = SafeTensorsFile.Open(path);
        string Meta(string key) => file.Metadata.TryGetValue(key, out var v)
            ? v : throw new DreamBoothException($"{path} is not an optimizer state file (no '{key}' in its metadata).");
        if (Meta("format") != Format) throw new DreamBoothException($"{path}: unknown optimizer state format '{Meta("format")}'.");
        if (Meta("optimizer") != Kind) throw new DreamBoothException($"{path} holds {Meta("optimizer")} state, but the optimizer is {Kind}.");
        T Json<T>(string key)
        {
            try
            {
                return JsonSerializer.Deserialize<T>(Meta(key)) ?? throw new DreamBoothException($"{path}: empty optimizer '{key}' metadata.");
            }
            catch (JsonException e)
            {
                throw new DreamBoothException($"{path}: corrupt optimizer '{key}' metadata ({e.Message.Split(". Path")[0]}).");
            }
        }
        var layout = Json<Dictionary<string, string>>("layout");
        foreach (var (key, value) in Layout)
            if (!layout.TryGetValue(key, out var saved) || saved != value)
                throw new DreamBoothException($"{path}: {Kind} state was saved with {key}={saved ?? "(none)"}, but this optimizer uses {value}.");
        var options = Json<AdamWOptions>("options").Validated();
        var stepTable = Json<Dictionary<string, long>>("steps");

        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < parameters.Length; i++) index[parameters[i].Name] = i;
        var unknown = stepTable.Keys.Where(n => !index.ContainsKey(n)).ToList();
        if (unknown.Count > 0)
            throw new DreamBoothException($"{path}: optimizer state for parameters this run does not train: {string.Join(", ", unknown.Take(10))}{(unknown.Count > 10 ? $" (+{unknown.Count - 10} more)" : "")}.");

        var expected = new HashSet<string>(StringComparer.Ordinal);
        var restore = new List<int>();
        foreach (var (name, step) in stepTable)
        {
            if (step <= 0) throw new DreamBoothException($"{path}: parameter '{name}' has step count {step}.");
            restore.Add(index[name]);
        }
        try
        {
            for (int i = 0; i < parameters.Length; i++)
            {
                ClearState(i);
                steps[i] = 0;
            }
            foreach (int i in restore)
            {
                EnsureState(i);
                steps[i] = stepTable[parameters[i].Name];
                foreach (var (slot, t) in StateTensors(i))
                {
                    var key = parameters[i].Name + "." + slot;
                    expected.Add(key);
                    if (!file.Contains(key)) throw new DreamBoothException($"{path}: missing optimizer state tensor '{key}'.");
                    var info = file[key];
                    if (info.ScalarType != t.dtype)
                        throw new DreamBoothException($"{path}: '{key}' is {info.Dtype}, expected {SafeTensorsDtype.FromTorch(t.dtype)}.");
                    file.ReadInto(key, t);
                }
            }
            var extra = file.Tensors.Select(t => t.Name).Where(n => !expected.Contains(n)).ToList();
            if (extra.Count > 0) throw new DreamBoothException($"{path}: unexpected optimizer state tensors: {string.Join(", ", extra.Take(10))}.");
        }
        catch
        {
            // The previous moments are already gone; never continue from a half-loaded state: start from scratch.
            for (int i = 0; i < parameters.Length; i++) ClearState(i);
            Array.Clear(steps);
            throw;
        }
        Options = options;
        LearningRate = options.LearningRate;
    }

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposed) return;
        disposed = true;
        if (disposing)
            for (int i = 0; i < parameters.Length; i++) ClearState(i);
    }
}
