namespace DreamBooth.Tests.Training;

using System.Text.Json.Nodes;
using DreamBooth.Tests.Cli;
using DreamBooth.Tests.Imaging;
using DreamBooth.Training;

public sealed class DamagedCheckpointTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("damaged-checkpoint").FullName;

    public void Dispose() => Directory.Delete(dir, true);

    [Theory]
    [InlineData("step", "step -7 in trainer_state.json is negative")]
    [InlineData("order", "the example order is not a permutation of the 2 examples")]
    public void Resume_DamagedTrainerState_RefusedInOneLine(string damage, string expected)
    {
        var photos = Directory.CreateDirectory(Path.Combine(dir, "photos")).FullName;
        for (int i = 0; i < 2; i++) File.WriteAllBytes(Path.Combine(photos, $"{i}.jpg"), TestImages.Jpeg(TestImages.Blobs(48, 48, i)));
        var output = Path.Combine(dir, "out");
        string[] args = ["train", "-m", Fixtures.Path("sd15-tiny"), "--instance-data-dir", photos, "--instance-prompt", "sks dog",
                         "--resolution", "32", "--train-batch-size", "1", "--gradient-accumulation-steps", "1", "--seed", "3", "--checkpointing-steps", "1", "--output-dir", output];
        var (code, text) = CliRunner.Run([.. args, "--max-train-steps", "1"]);
        Assert.True(code == 0, text);

        var checkpoint = new CheckpointStore(output).List().Single().Path;
        var statePath = Path.Combine(checkpoint, CheckpointStore.StateFile);
        var state = JsonNode.Parse(File.ReadAllText(statePath))!.AsObject();
        if (damage == "step") state["GlobalStep"] = -7;
        else state["Loader"]!["Order"] = new JsonArray(0, 99);
        File.WriteAllText(statePath, state.ToJsonString());

        (code, text) = CliRunner.Run([.. args, "--max-train-steps", "3", "--resume-from-checkpoint", "latest"]);
        Assert.True(code == 1, text);
        var error = Assert.Single(text.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains(expected, error);
    }
}
