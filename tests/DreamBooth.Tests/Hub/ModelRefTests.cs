namespace DreamBooth.Tests.Hub;

using DreamBooth.Hub;

public class ModelRefTests
{
    [Fact]
    public void Parse_ExistingFolder_IsLocalFolder()
    {
        var model = ModelRef.Parse(Fixtures.Path("sd15-tiny"));

        Assert.Equal(ModelRefKind.LocalFolder, model.Kind);
        Assert.Equal(Path.GetFullPath(Fixtures.Path("sd15-tiny")), model.LocalPath);
        Assert.False(model.IsHub);
    }

    [Fact]
    public void Parse_ExistingSafetensorsFile_IsSingleFileCheckpoint()
    {
        var model = ModelRef.Parse(Fixtures.Path("sd15-tiny", "unet", "diffusion_pytorch_model.safetensors"));

        Assert.Equal(ModelRefKind.LocalSingleFile, model.Kind);
    }

    [Fact]
    public void Parse_ExistingPickleFile_RefusedBecauseItCanRunCode()
    {
        using var tmp = new TempDir();
        var ckpt = tmp.Sub("model.ckpt");
        File.WriteAllBytes(ckpt, [0]);

        var error = Assert.Throws<DreamBoothException>(() => ModelRef.Parse(ckpt));

        Assert.Contains("arbitrary code", error.Message);
    }

    [Theory]
    [InlineData("org/name", "org/name", "main")]
    [InlineData("stabilityai/stable-diffusion-2-1@fp16", "stabilityai/stable-diffusion-2-1", "fp16")]
    [InlineData("runwayml/stable-diffusion-v1-5@39593d5650112b4cc580433f6b0435385882d819", "runwayml/stable-diffusion-v1-5", "39593d5650112b4cc580433f6b0435385882d819")]
    [InlineData("Org_1/Name.v2@refs/pr/3", "Org_1/Name.v2", "refs/pr/3")]
    public void Parse_RepoId_IsHubRepoWithRevision(string argument, string repoId, string revision)
    {
        var model = ModelRef.Parse(argument);

        Assert.Equal(ModelRefKind.HubRepo, model.Kind);
        Assert.Equal(repoId, model.RepoId);
        Assert.Equal(revision, model.Revision);
        Assert.Equal(argument, model.ToString());
    }

    [Theory]
    [InlineData("name-only", "org/name")]
    [InlineData("org/", "invalid Hub repo id")]
    [InlineData("org/-name", "invalid Hub repo id")]
    [InlineData("org/name.", "invalid Hub repo id")]
    [InlineData("org/na me", "invalid Hub repo id")]
    [InlineData("org--x/name", "'--' and '..'")]
    [InlineData("org/na..me", "'--' and '..'")]
    [InlineData("org/name.git", ".git")]
    [InlineData("org/name@", "empty revision")]
    [InlineData("org/name@a/../b", "invalid revision")]
    [InlineData("a/b/c", "does not exist")]
    [InlineData("./missing-folder", "does not exist")]
    [InlineData("missing.safetensors", "does not exist")]
    public void Parse_Malformed_ThrowsReadableError(string argument, string expected)
    {
        var error = Assert.Throws<DreamBoothException>(() => ModelRef.Parse(argument));

        Assert.Contains(expected, error.Message);
        Assert.Contains(argument.Split('@')[0], error.Message);
    }

    [Fact]
    public void Hub_DefaultRevision_IsMain()
    {
        Assert.Equal("main", ModelRef.Hub("org/name").Revision);
    }
}
