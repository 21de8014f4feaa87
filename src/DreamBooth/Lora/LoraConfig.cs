// Mirrors peft src/peft/tuners/lora/config.py::LoraConfig (the fields LoRA training for SD uses).
namespace DreamBooth.Lora;

using static TorchSharp.torch;

/// <summary>peft's <c>init_lora_weights</c>: how A starts (B always starts at zero).</summary>
public enum LoraInit
{
    /// <summary>peft's default (<c>True</c>): kaiming-uniform with a = √5, like nn.Linear.</summary>
    Kaiming,

    /// <summary><c>"gaussian"</c>: N(0, 1/r), as diffusers' DreamBooth LoRA scripts ask.</summary>
    Gaussian,
}

/// <summary>How <see cref="LoraInjector.Inject"/> adds an adapter.</summary>
public sealed record LoraConfig
{
    /// <summary>r (peft <c>r</c>).</summary>
    public int Rank { get; init; } = 4;

    /// <summary>lora_alpha; the adapter scale is Alpha / Rank (peft's default alpha is 8).</summary>
    public double Alpha { get; init; } = 8;

    /// <summary>lora_dropout, applied to the adapter's input in training mode.</summary>
    public double Dropout { get; init; }

    /// <summary>
    /// Module names to adapt, matched like peft: a module path equals an entry or ends with "." + entry
    /// (diffusers' DreamBooth LoRA scripts use to_q, to_k, to_v, to_out.0; text encoders q_proj, k_proj, v_proj, out_proj).
    /// </summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["to_q", "to_k", "to_v", "to_out.0"];

    /// <summary>Initialisation of A (peft's <c>init_lora_weights</c>).</summary>
    public LoraInit Init { get; init; } = LoraInit.Kaiming;

    /// <summary>rsLoRA: scale Alpha / √Rank instead of Alpha / Rank.</summary>
    public bool UseRsLora { get; init; }

    /// <summary>Adapter dtype (default: each base layer's dtype), e.g. float32 adapters on a float16 UNet.</summary>
    public ScalarType? Dtype { get; init; }

    /// <summary>
    /// Like peft's injection: afterwards only LoRA parameters of the model require grad (the base model is frozen).
    /// </summary>
    public bool FreezeBaseModel { get; init; } = true;

    public void Validate()
    {
        if (Rank < 1) throw new DreamBoothException($"LoRA rank must be at least 1, not {Rank}.");
        if (Dropout is < 0 or >= 1) throw new DreamBoothException($"LoRA dropout must be in [0, 1), not {Dropout}.");
        if (TargetModules.Count == 0) throw new DreamBoothException("LoRA target modules must not be empty.");
    }
}
