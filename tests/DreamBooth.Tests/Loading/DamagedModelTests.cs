namespace DreamBooth.Tests.Loading;

using System.Text.Json.Nodes;
using DreamBooth.Loading;
using DreamBooth.Tests.Cli;

/// <summary>Damaged copies of the tiny model: each is refused in one line (exit 1), never an internal error.</summary>
public sealed class DamagedModelTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("damaged-model").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    private string CopyModel(string name = "model")
    {
        var to = Path.Combine(dir, name);
        foreach (var file in Directory.EnumerateFiles(Fixtures.Path("sd15-tiny"), "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(Fixtures.Path("sd15-tiny"), file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return to;
    }

    private static string OneLineError((int Code, string Output) result)
    {
        Assert.True(result.Code == 1, $"exit {result.Code}: {result.Output}");
        Assert.Single(result.Output.Trim().Split('\n'));
        return result.Output.Trim();
    }

    [Fact]
    public void Inspect_InvalidComponentConfig_ExitsOne()
    {
        var model = CopyModel();
        File.WriteAllText(Path.Combine(model, "unet", "config.json"), "{bad");
        Assert.Contains("unet/config.json: invalid JSON", OneLineError(CliRunner.Run("inspect", model)));
    }

    [Fact]
    public void Generate_VocabIdOfWrongType_NamesTheToken()
    {
        var model = CopyModel();
        var vocabPath = Path.Combine(model, "tokenizer", "vocab.json");
        var vocab = JsonNode.Parse(File.ReadAllText(vocabPath))!.AsObject();
        vocab["hello</w>"] = "str";
        File.WriteAllText(vocabPath, vocab.ToJsonString());
        var text = OneLineError(CliRunner.Run("generate", "-m", model, "-p", "x", "--steps", "1", "-o", Path.Combine(dir, "out")));
        Assert.Contains("the id of token \"hello</w>\" is not an integer", text);
    }

    [Theory]
    [InlineData(-32)]
    [InlineData(3_200_000)]
    public void Generate_UnetChannelsOutOfRange_RefusedBeforeAllocating(int channels)
    {
        var model = CopyModel();
        var configPath = Path.Combine(model, "unet", "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        var list = config["block_out_channels"]!.AsArray();
        list[0] = channels;
        File.WriteAllText(configPath, config.ToJsonString());
        var text = OneLineError(CliRunner.Run("generate", "-m", model, "-p", "x", "--steps", "1", "-o", Path.Combine(dir, "out")));
        Assert.Contains($"'block_out_channels' entry {channels} is out of range", text);
    }

    [Fact]
    public void Inspect_HubSnapshotOfSymlinks_ShowsTheBlobSizes()
    {
        // The hub cache's layout: snapshot files are symlinks to blobs.
        var plain = CopyModel("plain");
        var blobs = Directory.CreateDirectory(Path.Combine(dir, "blobs")).FullName;
        var linked = Path.Combine(dir, "linked");
        int n = 0;
        foreach (var file in Directory.EnumerateFiles(plain, "*", SearchOption.AllDirectories))
        {
            var blob = Path.Combine(blobs, $"{n++}");
            File.Copy(file, blob);
            var link = Path.Combine(linked, Path.GetRelativePath(plain, file));
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            File.CreateSymbolicLink(link, blob);
        }
        Assert.Equal(PipelineInspector.Inspect(plain).Select(c => c.Bytes), PipelineInspector.Inspect(linked).Select(c => c.Bytes));
    }

    [Fact]
    public void Train_NaNWeights_FirstStepMessageDoesNotBlameTheLearningRate()
    {
        var model = CopyModel();
        var weights = Path.Combine(model, "unet", "diffusion_pytorch_model.safetensors");
        DreamBooth.IO.SafeTensorInfo convIn;
        using (var file = DreamBooth.IO.SafeTensorsFile.Open(weights)) convIn = file["conv_in.weight"];
        Assert.Equal("F32", convIn.Dtype);
        using (var stream = new FileStream(weights, FileMode.Open, FileAccess.Write))
        {
            stream.Position = convIn.Start;
            for (long i = convIn.Start; i < convIn.End; i += 4) stream.Write(BitConverter.GetBytes(float.NaN));
        }
        var photos = Directory.CreateDirectory(Path.Combine(dir, "photos")).FullName;
        File.WriteAllBytes(Path.Combine(photos, "a.jpg"), Imaging.TestImages.Jpeg(Imaging.TestImages.Pattern(48, 48)));
        var (code, output) = CliRunner.Run("train", "-m", model, "--instance-data-dir", photos, "--instance-prompt", "sks dog",
                                           "--resolution", "32", "--max-train-steps", "2", "--output-dir", Path.Combine(dir, "out"));
        Assert.True(code == 1, output);
        var text = Assert.Single(output.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains("at step 1", text);
        Assert.Contains("the learning rate is not the cause", text);
        Assert.DoesNotContain("--learning-rate", text);
    }

    [Fact]
    public void Generate_SchedulerConfigValueOfWrongType_SaysWhatTheKeyTakes()
    {
        var model = CopyModel();
        var configPath = Path.Combine(model, "scheduler", "scheduler_config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config["num_train_timesteps"] = "lots";
        File.WriteAllText(configPath, config.ToJsonString());
        var text = OneLineError(CliRunner.Run("generate", "-m", model, "-p", "x", "--steps", "1", "-o", Path.Combine(dir, "out")));
        Assert.EndsWith("scheduler_config.json: 'num_train_timesteps' must be a whole number, not \"lots\".", text);
    }
}
