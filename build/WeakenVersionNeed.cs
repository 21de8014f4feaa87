// MSBuild inline task (RoslynCodeTaskFactory): marks one ELF version-need entry weak (VER_FLG_WEAK)
// in a build-output copy of a shared library, so the dynamic loader tolerates its absence.
// Safe only when no relocation binds a symbol of that version; the task checks that and refuses
// otherwise. The file is rewritten through a temporary file and a rename, so a hard link to the
// NuGet cache is replaced rather than modified.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class DreamBoothWeakenVersionNeed : Task
{
    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();
    [Required] public string Version { get; set; } = "";
    [Required] public string Mode { get; set; } = "auto";

    const uint ShtRela = 4, ShtVerneed = 0x6ffffffe, ShtVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2;

    public override bool Execute()
    {
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            if (!File.Exists(path)) continue;
            if (Mode == "auto" && HostProvides(Version))
            {
                Log.LogMessage(MessageImportance.Low, "{0}: this machine's libstdc++ provides {1}; left as is.", path, Version);
                continue;
            }
            try
            {
                var result = Patch(path, Version);
                Log.LogMessage(MessageImportance.Normal, "{0}: {1}", path, result);
            }
            catch (Exception e)
            {
                Log.LogError("Cannot mark {0} weak in {1}: {2}", Version, path, e.Message);
                return false;
            }
        }
        return !Log.HasLoggedErrors;
    }

    static bool HostProvides(string version)
    {
        foreach (var dir in new[] { "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu", "/lib64" })
        {
            var lib = Path.Combine(dir, "libstdc++.so.6");
            if (!File.Exists(lib)) continue;
            var bytes = File.ReadAllBytes(lib);
            var needle = Encoding.ASCII.GetBytes(version + "\0");
            return IndexOf(bytes, needle) >= 0;
        }
        return false;
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i <= hay.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    static string Patch(string path, string version)
    {
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != 'E' || elf[2] != 'L' || elf[3] != 'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only 64-bit little-endian ELF is supported");

        ulong shoff = U64(elf, 0x28);
        int shentsize = U16(elf, 0x3A), shnum = U16(elf, 0x3C);
        int verneed = -1, versym = -1;
        for (int i = 0; i < shnum; i++)
        {
            uint type = U32(elf, (int)shoff + i * shentsize + 4);
            if (type == ShtVerneed) verneed = i;
            if (type == ShtVersym) versym = i;
        }
        if (verneed < 0) return "no version needs; nothing to do";

        int vnSh = (int)shoff + verneed * shentsize;
        int strtab = (int)shoff + (int)U32(elf, vnSh + 40) * shentsize; // sh_link: .dynstr
        int strOff = (int)U64(elf, strtab + 24);
        int vnOff = (int)U64(elf, vnSh + 24);
        int vnCount = (int)U32(elf, vnSh + 44); // sh_info: number of Verneed entries

        int auxAt = -1, index = -1;
        for (int n = 0, vn = vnOff; n < vnCount; n++)
        {
            int cnt = U16(elf, vn + 2);
            for (int a = 0, aux = vn + (int)U32(elf, vn + 8); a < cnt; a++)
            {
                if (CString(elf, strOff + (int)U32(elf, aux + 8)) == version)
                {
                    auxAt = aux;
                    index = U16(elf, aux + 6);
                }
                aux += (int)U32(elf, aux + 12);
            }
            vn += (int)U32(elf, vn + 12);
        }
        if (auxAt < 0) return version + " is not needed; nothing to do";
        if ((U16(elf, auxAt + 4) & VerFlgWeak) != 0) return version + " already weak";
        if (versym < 0) throw new InvalidDataException("no .gnu.version section");

        // Which dynamic symbols carry that version, and does any relocation use one of them?
        int vsSh = (int)shoff + versym * shentsize;
        int vsOff = (int)U64(elf, vsSh + 24);
        int symCount = (int)U64(elf, vsSh + 32) / 2;
        var hasVersion = new bool[symCount];
        bool any = false;
        for (int s = 0; s < symCount; s++)
            if ((U16(elf, vsOff + 2 * s) & 0x7fff) == index) { hasVersion[s] = true; any = true; }
        if (any)
        {
            for (int i = 0; i < shnum; i++)
            {
                int sh = (int)shoff + i * shentsize;
                if (U32(elf, sh + 4) != ShtRela) continue;
                int off = (int)U64(elf, sh + 24), size = (int)U64(elf, sh + 32);
                for (int r = off; r + 24 <= off + size; r += 24)
                {
                    long sym = (long)(U64(elf, r + 8) >> 32);
                    if (sym > 0 && sym < symCount && hasVersion[sym])
                        throw new InvalidDataException($"a relocation binds symbol #{sym} of {version}; marking it weak would be unsafe");
                }
            }
        }

        ushort flags = (ushort)(U16(elf, auxAt + 4) | VerFlgWeak);
        elf[auxAt + 4] = (byte)flags;
        elf[auxAt + 5] = (byte)(flags >> 8);

        var tmp = path + ".weak-tmp";
        File.Copy(path, tmp, true); // keeps the file mode; the copy is a new inode even when path is a hard link
        using (var f = new FileStream(tmp, FileMode.Truncate, FileAccess.Write)) f.Write(elf, 0, elf.Length);
        File.Replace(tmp, path, null); // rename(2): replaces the directory entry, never writes through a link
        return "marked " + version + " weak (no relocation binds it)";
    }

    static ushort U16(byte[] b, int o) => (ushort)(b[o] | b[o + 1] << 8);
    static uint U32(byte[] b, int o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);
    static ulong U64(byte[] b, int o) => U32(b, o) | (ulong)U32(b, o + 4) << 32;

    static string CString(byte[] b, int o)
    {
        int end = o;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, o, end - o);
    }
}
