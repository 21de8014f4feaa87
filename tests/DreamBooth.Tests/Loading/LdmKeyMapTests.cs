namespace DreamBooth.Tests.Loading;

using System.Text.Json;
using DreamBooth.Loading;

public sealed class LdmKeyMapTests
{
    private static readonly LdmUnetLayout Sd15 = new(2, [false, true, true, true]);

    private static List<(string Diffusers, string Ldm, bool Reshaped)> Entries()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("manifests", "sd15", "ldm_key_map.json")));
        return doc.RootElement.GetProperty("entries").EnumerateArray()
            .Select(e => (e.GetProperty("diffusers").GetString()!, e.GetProperty("ldm").GetString()!, e.TryGetProperty("transform", out _)))
            .ToList();
    }

    [Fact]
    public void LdmKeyMap_FullSd15_EqualsDiffusersConverterForEveryKey()
    {
        var entries = Entries();
        Assert.Equal(1130, entries.Count);
        foreach (var (diffusers, ldm, reshaped) in entries)
        {
            string actual;
            if (diffusers.StartsWith("unet.", StringComparison.Ordinal))
                actual = LdmKeyMap.UnetPrefix + LdmKeyMap.UnetToLdm(diffusers["unet.".Length..], Sd15);
            else if (diffusers.StartsWith("vae.", StringComparison.Ordinal))
            {
                var (key, conv) = LdmKeyMap.VaeToLdm(diffusers["vae.".Length..], numUpBlocks: 4);
                Assert.Equal(reshaped, conv);
                actual = LdmKeyMap.VaePrefix + key;
            }
            else
                actual = LdmKeyMap.TextEncoderPrefix + LdmKeyMap.TextEncoderToLdm(diffusers["text_encoder.".Length..]);
            Assert.Equal(ldm, actual);
        }
    }

    [Fact]
    public void LdmKeyMap_UnknownKey_ClearError()
    {
        var e = Assert.Throws<DreamBoothException>(() => LdmKeyMap.UnetToLdm("mystery.weight", Sd15));
        Assert.Contains("mystery.weight", e.Message);
    }
}
