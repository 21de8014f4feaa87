namespace DreamBooth.Tests.Models.Autoencoders;

using DreamBooth.IO;
using DreamBooth.Models.Autoencoders;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

public sealed class TilingTests(ITestOutputHelper output)
{
    // Geometry of the tiny VAEs' tiled decode: 16-latent tiles every 12 latents, ×2 in pixels, 8-pixel blends, 24 kept.
    private const int Tile = 16, Stride = 12, Blend = 8, RowLimit = 24;

    [Fact]
    public void BlendV_ConstantTiles_LinearRampFromAToB()
    {
        using var a = full(1, 1, 10, 3, 2.0f);
        using var b = zeros(1, 1, 6, 3);
        Tiling.BlendV(a, b, 4);
        // Row y of the overlap = 2·(1 - y/4): starts at a's value, steps by 1/4 of the gap, then b is untouched.
        Assert.Equal([2f, 1.5f, 1f, 0.5f, 0f, 0f], b[0, 0, .., 1].data<float>().ToArray());
    }

    [Fact]
    public void BlendH_ShorterThanExtent_BlendsOnlyCommonWidth()
    {
        using var a = full(1, 1, 2, 3, 1.0f);
        using var b = zeros(1, 1, 2, 5);
        Tiling.BlendH(a, b, 8);                                                  // extent clipped to a's width 3
        Assert.Equal([1f, 2f / 3, 1f / 3, 0f, 0f], b[0, 0, 1, ..].data<float>().ToArray());
    }

    [Fact]
    public void Run_LocalOperation_ReproducesUntiledExactly()
    {
        // A purely local map (nearest ×2) gives equal values where tiles overlap, so placement, cropping and blending
        // must reproduce the untiled result; a misplaced tile or blend window would show up at once.
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 40, 44, generator: new Generator(7));
        var tiled = Tiling.Run(x, Tile, Stride, Blend, RowLimit, Up);
        var whole = Up(x);
        Assert.Equal(whole.shape, tiled.shape);
        Assert.True((whole - tiled).abs().max().item<float>() <= 1e-6);
    }

    [Fact]
    public void Run_TilesWithDifferentOffsets_NoSeams()
    {
        // Each tile adds its own constant (as per-tile GroupNorm statistics do in a real VAE). Without blending the
        // image would jump by the full offset difference at every tile edge; blending spreads it over 8 pixels.
        using var scope = NewDisposeScope();
        var ramp = arange(40, ScalarType.Float32).mul(0.01);
        var x = (ramp.view(1, 1, 40, 1) + ramp.view(1, 1, 1, 40)).expand(1, 1, 40, 40).contiguous();
        var offsets = new Queue<float>([0f, 1f, -0.5f, 0.8f, 0.3f, -1f, 0.6f, 0f, -0.7f, 1f, 0.2f, -0.3f, 0.9f, -0.2f, 0.4f, 0.1f]);
        var tiled = Tiling.Run(x, Tile, Stride, Blend, RowLimit, t => Up(t) + offsets.Dequeue());
        Assert.Empty(offsets);                                                   // 4 × 4 tiles

        double maxOffsetGap = 2.0, smoothGradient = 0.01;
        double bound = 2 * maxOffsetGap / Blend + smoothGradient + 1e-5;
        var jumpV = tiled.diff(dim: 2).abs().max().item<float>();
        var jumpH = tiled.diff(dim: 3).abs().max().item<float>();
        output.WriteLine($"largest neighbour step: vertical {jumpV}, horizontal {jumpH}, bound {bound} (hard seams: up to {maxOffsetGap})");
        Assert.True(jumpV <= bound && jumpH <= bound, $"steps {jumpV}/{jumpH} > {bound}");
    }

    [Fact]
    public void Run_BorderSensitiveTiles_MatchesDiffusersLiteralAlgorithm()
    {
        // A zero-padded conv plus a per-tile offset makes overlapping tiles disagree, so the result depends on the
        // blend order and on blending already-blended neighbours in place, as diffusers does. Non-square input, edge
        // tiles smaller than the blend width.
        using var scope = NewDisposeScope();
        var x = randn(2, 3, 40, 46, generator: new Generator(8));
        var kernel = randn(3, 3, 3, 3, generator: new Generator(9)) * 0.3;
        int calls = 0;
        Tensor Process(Tensor t) => nn.functional.conv2d(Up(t), kernel, padding: [1, 1]) + 0.1 * calls++;

        var tiled = Tiling.Run(x, Tile, Stride, Blend, RowLimit, Process);
        calls = 0;
        var literal = DiffusersTiled(x, Tile, 2 * Tile, Process);
        Assert.Equal(literal.shape, tiled.shape);
        Assert.Equal([2L, 3, 80, 92], tiled.shape);
        Assert.True((tiled - literal).abs().max().item<float>() <= 1e-6);
    }

    [Theory]
    [InlineData("sd2-tiny-v")]
    [InlineData("sdxl-tiny")]
    public void TiledDecodeAndEncode_ModerateSize_ApproximateUntiled(string pipeline)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var vae = AutoencoderKL.FromPretrained(Fixtures.Path(pipeline, "vae"));
        // The tiny VAEs' own 32-pixel tiles are mostly border (their receptive field is about ±20 pixels), so use
        // 64-pixel tiles on a 96-pixel image: 2 × 2 tiles, like SD's 512-pixel tiles on a 768-pixel image.
        vae.TileSampleMinSize = 64;
        vae.TileLatentMinSize = 32;
        var z = randn(1, 4, 48, 48, generator: new Generator(11));

        var whole = vae.Decode(z);                                               // [1, 3, 96, 96]
        var image = whole.clamp(-1, 1);
        using var wholePosterior = vae.Encode(image);                            // [1, 4, 48, 48]
        vae.UseTiling = true;
        var tiled = vae.Decode(z);
        using var tiledPosterior = vae.Encode(image);

        // Tiles see zero padding at their borders and their own GroupNorm statistics and attention; with random
        // weights that costs ~10 % here (a misplaced tile or blend gives ~100 % or more).
        var decodeError = Relative(tiled, whole);
        var encodeError = Relative(tiledPosterior.Mean, wholePosterior.Mean);
        output.WriteLine($"{pipeline}: mean |tiled - untiled| / mean |untiled|: decode {decodeError:F3}, encode {encodeError:F3}");
        Assert.Equal(whole.shape, tiled.shape);
        Assert.Equal(wholePosterior.Mean.shape, tiledPosterior.Mean.shape);
        Assert.True(decodeError < 0.2, $"decode: {decodeError:F3}");
        Assert.True(encodeError < 0.2, $"encode: {encodeError:F3}");
    }

    [Fact]
    public void Decode_FitsInOneTile_TilingChangesNothing()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var vae = AutoencoderKL.FromPretrained(Fixtures.Path("sd2-tiny-v", "vae"));
        using var refs = SafeTensorsFile.Open(Fixtures.Path("sd2-tiny-v", "reference.safetensors"));
        var z = refs.Read("vae.decode.input");                                  // 16 × 16 = one latent tile
        var whole = vae.Decode(z);
        vae.UseTiling = true;
        Assert.Equal(0.0, (vae.Decode(z) - whole).abs().max().item<float>());
    }

    /// <summary>diffusers' tiled_decode/tiled_encode and blend_v/blend_h as written there, for comparison.</summary>
    private static Tensor DiffusersTiled(Tensor x, int tileIn, int tileOut, Func<Tensor, Tensor> process)
    {
        int overlap = (int)(tileIn * (1 - 0.25)), blend = (int)(tileOut * 0.25), rowLimit = tileOut - blend;
        var rows = new List<List<Tensor>>();
        for (int i = 0; i < x.shape[2]; i += overlap)
        {
            var row = new List<Tensor>();
            for (int j = 0; j < x.shape[3]; j += overlap)
                row.Add(process(x[.., .., i..(int)Math.Min(i + tileIn, x.shape[2]), j..(int)Math.Min(j + tileIn, x.shape[3])]));
            rows.Add(row);
        }
        var resultRows = new List<Tensor>();
        for (int i = 0; i < rows.Count; i++)
        {
            var resultRow = new List<Tensor>();
            for (int j = 0; j < rows[i].Count; j++)
            {
                var tile = rows[i][j];
                if (i > 0)
                {
                    var a = rows[i - 1][j];
                    long e = Math.Min(Math.Min(a.shape[2], tile.shape[2]), blend);
                    for (long y = 0; y < e; y++)
                        tile[.., .., y, ..] = a[.., .., a.shape[2] - e + y, ..] * (1 - y / (double)e) + tile[.., .., y, ..] * (y / (double)e);
                }
                if (j > 0)
                {
                    var a = rows[i][j - 1];
                    long e = Math.Min(Math.Min(a.shape[3], tile.shape[3]), blend);
                    for (long c = 0; c < e; c++)
                        tile[.., .., .., c] = a[.., .., .., a.shape[3] - e + c] * (1 - c / (double)e) + tile[.., .., .., c] * (c / (double)e);
                }
                resultRow.Add(tile[.., .., ..rowLimit, ..rowLimit]);
            }
            resultRows.Add(cat(resultRow, dim: 3));
        }
        return cat(resultRows, dim: 2);
    }

    private static Tensor Up(Tensor t) => nn.functional.interpolate(t, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest);

    private static double Relative(Tensor actual, Tensor expected) =>
        (actual - expected).abs().mean().item<float>() / expected.abs().mean().item<float>();
}
