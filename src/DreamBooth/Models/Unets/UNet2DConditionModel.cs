// Mirrors diffusers src/diffusers/models/unets/unet_2d_condition.py::UNet2DConditionModel (0.27.2), restricted to what
// SD 1.x, 2.x and XL use (see UNet2DConditionConfig for the options that are refused).
namespace DreamBooth.Models.Unets;

using DreamBooth.Torch;
using DreamBooth.Loading;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;
using Modules = TorchSharp.Modules;
using DownBlock = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor, TorchSharp.torch.Tensor?,
    (TorchSharp.torch.Tensor Hidden, TorchSharp.torch.Tensor[] Skips)>;
using UpBlock = TorchSharp.torch.nn.Module<TorchSharp.torch.Tensor, TorchSharp.torch.Tensor[], TorchSharp.torch.Tensor,
    TorchSharp.torch.Tensor?, long[]?, TorchSharp.torch.Tensor>;

/// <summary>
/// The denoising UNet: predicts noise (or v) for a latent <c>sample</c> at <c>timestep</c>, conditioned on text
/// (<c>encoderHiddenStates</c>) and, for SDXL, on the pooled text embedding and the size/crop time ids.
/// </summary>
public sealed class UNet2DConditionModel : Module<Tensor, Tensor, Tensor, (Tensor TextEmbeds, Tensor TimeIds)?, Tensor>
{
    // Field order = diffusers' registration order (note up_blocks before mid_block), so parameters() enumerates
    // exactly like named_parameters() in PyTorch.
    private readonly Module<Tensor, Tensor> conv_in;      // Conv2d (typed as a module so a LoRA wrapper fits)
    private readonly Timesteps time_proj;
    private readonly TimestepEmbedding time_embedding;
    private readonly Timesteps? add_time_proj;            // SDXL ("text_time") only
    private readonly TimestepEmbedding? add_embedding;    // SDXL ("text_time") only
    private readonly Modules.ModuleList<DownBlock> down_blocks;
    private readonly Modules.ModuleList<UpBlock> up_blocks;
    private readonly UNetMidBlock2DCrossAttn mid_block;
    private readonly Modules.GroupNorm conv_norm_out;
    private readonly Module<Tensor, Tensor> conv_out;     // Conv2d (typed as a module so a LoRA wrapper fits)
    private readonly int[] upBlockResnets;
    private readonly int numUpsamplers;

    public UNet2DConditionConfig Config { get; }

    /// <summary>
    /// diffusers' <c>enable_gradient_checkpointing()</c>: while the model is in training mode and grad is enabled, every
    /// resnet of the down, mid and up blocks and every transformer block of their attentions runs through
    /// <see cref="Checkpoint"/> and is recomputed in backward (as diffusers, the mid block's first resnet is
    /// not checkpointed). Same outputs; same gradients up to the order in which a few three-way gradient sums are added
    /// (~1e-7 relative in fp32). Less activation memory, one extra forward of those blocks.
    /// No effect in eval mode or under no_grad. Use <see cref="Checkpoint.Backward"/> for the loss.
    /// </summary>
    public bool GradientCheckpointing
    {
        get => gradientCheckpointing;
        set => BlockCheckpointing.SetAll(this, gradientCheckpointing = value);
    }

    private bool gradientCheckpointing;

    /// <param name="device">Where to allocate the parameters; torch.META builds the structure without any memory.</param>
    /// <param name="dtype">Parameter dtype (default float32).</param>
    public UNet2DConditionModel(UNet2DConditionConfig config, Device? device = null, ScalarType? dtype = null)
        : base(nameof(UNet2DConditionModel))
    {
        Config = config;
        var ch = config.BlockOutChannels;
        int n = ch.Count, groups = config.NormNumGroups;
        double eps = config.NormEps;
        long tembDim = config.TimeEmbedDim;

        conv_in = Conv2d(config.InChannels, ch[0], kernel_size: config.ConvInKernel, padding: (config.ConvInKernel - 1) / 2,
                         device: device, dtype: dtype);
        time_proj = new Timesteps(ch[0], config.FlipSinToCos, config.FreqShift);
        time_embedding = new TimestepEmbedding(ch[0], tembDim, device, dtype);
        if (config.AdditionEmbedType == "text_time")
        {
            add_time_proj = new Timesteps(config.AdditionTimeEmbedDim!.Value, config.FlipSinToCos, config.FreqShift);
            add_embedding = new TimestepEmbedding(config.ProjectionClassEmbeddingsInputDim!.Value, tembDim, device, dtype);
        }

        down_blocks = new Modules.ModuleList<DownBlock>();
        for (int i = 0; i < n; i++)
        {
            long inCh = i == 0 ? ch[0] : ch[i - 1];
            bool isFinal = i == n - 1;
            down_blocks.Add(config.DownBlockTypes[i] == "CrossAttnDownBlock2D"
                ? new CrossAttnDownBlock2D(inCh, ch[i], tembDim, config.LayersPerBlock[i], config.TransformerLayersPerBlock[i],
                                           groups, eps, config.NumAttentionHeads[i], config.CrossAttentionDim[i], !isFinal,
                                           config.DownsamplePadding, config.UseLinearProjection, config.UpcastAttention,
                                           config.Dropout, device, dtype)
                : new DownBlock2D(inCh, ch[i], tembDim, config.LayersPerBlock[i], groups, eps, !isFinal, config.DownsamplePadding,
                                  config.Dropout, device, dtype));
        }

        // The up path mirrors the down path: per-block lists are read reversed.
        up_blocks = new Modules.ModuleList<UpBlock>();
        upBlockResnets = new int[n];
        long prevOut = ch[n - 1];
        for (int i = 0; i < n; i++)
        {
            int r = n - 1 - i;                                  // the down level this block mirrors
            long outCh = ch[r];
            long inCh = ch[Math.Max(r - 1, 0)];                 // channels of this level's deepest skip
            bool isFinal = i == n - 1;
            int layers = config.LayersPerBlock[r] + 1;          // one extra resnet consumes the downsampler's skip
            upBlockResnets[i] = layers;
            if (!isFinal) numUpsamplers++;
            up_blocks.Add(config.UpBlockTypes[i] == "CrossAttnUpBlock2D"
                ? new CrossAttnUpBlock2D(inCh, prevOut, outCh, tembDim, layers, config.TransformerLayersPerBlock[r], groups, eps,
                                         config.NumAttentionHeads[r], config.CrossAttentionDim[r], !isFinal,
                                         config.UseLinearProjection, config.UpcastAttention, config.Dropout, device, dtype)
                : new UpBlock2D(inCh, prevOut, outCh, tembDim, layers, groups, eps, !isFinal, config.Dropout, device, dtype));
            prevOut = outCh;
        }

        mid_block = new UNetMidBlock2DCrossAttn(ch[n - 1], tembDim, config.TransformerLayersPerBlock[n - 1], groups, eps,
                                                config.NumAttentionHeads[n - 1], config.CrossAttentionDim[n - 1],
                                                config.MidBlockScaleFactor, config.UseLinearProjection, config.UpcastAttention,
                                                config.Dropout, device: device, dtype: dtype);

        conv_norm_out = Layers.GroupNorm(groups, ch[0], eps, device, dtype);
        conv_out = Conv2d(ch[0], config.OutChannels, kernel_size: config.ConvOutKernel, padding: (config.ConvOutKernel - 1) / 2,
                          device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Loads a diffusers <c>unet/</c> folder (config.json + safetensors, optionally a variant or shards), strictly.</summary>
    public static UNet2DConditionModel FromPretrained(string componentDir, Device? device = null,
                                                      ScalarType dtype = ScalarType.Float32, string? variant = null)
    {
        var config = UNet2DConditionConfig.Load(Path.Combine(componentDir, "config.json"));
        var files = WeightFiles.Find(componentDir, "diffusion_pytorch_model", variant);
        // Built directly on the target device and dtype: no transient float32 copy of the weights.
        return StateDictLoader.LoadNew(() => new UNet2DConditionModel(config, device, dtype), files, componentDir);
    }

    /// <summary>Number of parameter elements (859,520,964 for SD 1.5).</summary>
    public long ParameterCount() => StateDictLoader.ParameterCount(this);

    /// <inheritdoc cref="forward(Tensor, Tensor, Tensor, ValueTuple{Tensor, Tensor}?)"/>
    public Tensor forward(Tensor sample, double timestep, Tensor encoderHiddenStates, (Tensor TextEmbeds, Tensor TimeIds)? addedCond = null)
    {
        // A Python float becomes a float64 tensor in diffusers; Timesteps then computes in float32 as for any tensor.
        using var t = tensor(timestep, ScalarType.Float64, sample.device);
        return forward(sample, t, encoderHiddenStates, addedCond);
    }

    /// <param name="sample">Noisy latents [B, in_channels, H, W] in the model dtype.</param>
    /// <param name="timestep">A scalar or [B] (or [1]) tensor, integer or float (fractional for Euler/LMS).</param>
    /// <param name="encoderHiddenStates">Text conditioning [B, tokens, cross_attention_dim].</param>
    /// <param name="addedCond">SDXL: pooled text embeddings [B, D] and time ids [B, 6]; ignored by SD 1.x/2.x UNets.</param>
    /// <returns>[B, out_channels, H, W].</returns>
    public override Tensor forward(Tensor sample, Tensor timestep, Tensor encoderHiddenStates, (Tensor TextEmbeds, Tensor TimeIds)? addedCond)
    {
        using var scope = NewDisposeScope();
        // Latent sizes that are not a multiple of the total upsampling factor: each upsampler must then hit the size of
        // the skip it is concatenated with, instead of simply doubling.
        long factor = 1L << numUpsamplers;
        bool forwardUpsampleSize = sample.shape[^2] % factor != 0 || sample.shape[^1] % factor != 0;

        // 0. center input
        if (Config.CenterInputSample) sample = Ops.Sub(Ops.Mul(sample, 2), 1.0);

        // 1. time: timestep features (plus, for SDXL, the pooled text and size/crop ids) → one embedding per sample
        var emb = TimeEmbedding(sample, timestep);                                            // [B, temb]
        if (add_embedding is not null) emb = Ops.Add(emb, AddedEmbedding(emb, addedCond));   // [B, temb]

        // 2. pre-process
        var h = conv_in.call(sample);                                                         // [B, C0, H, W]

        // 3. down: every resnet and downsampler output is kept as a skip for the up path
        var skips = new List<Tensor> { h };
        foreach (var block in down_blocks)
        {
            (h, var res) = block.call(h, emb, encoderHiddenStates);                          // halves H, W except the last
            skips.AddRange(res);
        }

        // 4. mid
        h = mid_block.call(h, emb, encoderHiddenStates);                                      // [B, C_last, h, w]

        // 5. up: each block takes as many skips as it has resnets, deepest first
        long[]? upsampleSize = null;
        for (int i = 0; i < up_blocks.Count; i++)
        {
            int count = upBlockResnets[i];
            var res = skips.GetRange(skips.Count - count, count).ToArray();
            skips.RemoveRange(skips.Count - count, count);
            if (i < up_blocks.Count - 1 && forwardUpsampleSize) upsampleSize = skips[^1].shape[2..];   // [h, w] of the next skip
            var previous = h;
            h = up_blocks[i].call(h, res, emb, encoderHiddenStates, upsampleSize);               // doubles H, W except the last
            // Free consumed activations now rather than at the end of the scope (autograd keeps its own references).
            previous.Dispose();
            foreach (var t in res) t.Dispose();
        }

        // 6. post-process
        h = conv_out.call(functional.silu(conv_norm_out.call(h)));                           // [B, out, H, W]
        return h.MoveToOuterDisposeScope();
    }

    // diffusers get_time_embed + time_embedding: broadcast to the batch, float32 features cast to the model dtype.
    private Tensor TimeEmbedding(Tensor sample, Tensor timestep)
    {
        var t = timestep.dim() == 0 ? timestep.reshape(1) : timestep;                       // [] → [1]
        t = t.to(sample.device).expand(sample.shape[0]);                                     // [B]
        return time_embedding.call(time_proj.call(t).to(sample.dtype));
    }

    // diffusers get_aug_embed for addition_embed_type "text_time" (SDXL).
    private Tensor AddedEmbedding(Tensor emb, (Tensor TextEmbeds, Tensor TimeIds)? addedCond)
    {
        var (textEmbeds, timeIds) = addedCond ?? throw new ArgumentException(
            "This UNet has addition_embed_type \"text_time\" (SDXL): pass the pooled text embeddings and time ids.", nameof(addedCond));
        var timeEmbeds = add_time_proj!.call(timeIds.flatten())                              // [B·6, addition_time_embed_dim]
            .reshape(textEmbeds.shape[0], -1);                                               // [B, 6·addition_time_embed_dim]
        // diffusers concatenates (promoting to float32) and then casts to emb's dtype; casting first gives the same values.
        var addEmbeds = cat([textEmbeds.to(emb.dtype), timeEmbeds.to(emb.dtype)], -1);            // [B, projection_..._input_dim]
        return add_embedding!.call(addEmbeds);
    }
}
