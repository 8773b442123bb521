//! What is checked against what: the files of a checkpoint (one file, or a model folder with or
//! without `model.safetensors.index.json`), each tensor's recorded init, and its shard.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use super::scan::{kind_of, Kind, Region, RowTest, Scan, Whole};
use super::TensorCheck;
use crate::error::{Error, Result};
use crate::init::Init;
use crate::io::TensorInfo;
use crate::nn::Model;
use crate::shard::Shard;
use crate::tensor::DType;

/// A tensor's recorded init: the `init` label of `nninit.inits` (as `nninit init` reports it)
/// and the whole tensor's fans.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// `kaiming_uniform_(a=2.23606797749979, ...)`, `default: ...`, with `, then [a:b] init`
    /// parts and `, row r zeroed`.
    pub init: String,
    /// `(fan_in, fan_out)` of the whole tensor.
    pub fans: Option<(usize, usize)>,
}

/// Each parameter's init as a model's plan leaves it, by `state_dict` name: what a checkpoint
/// made elsewhere is checked against (a layout read with `--like`, or a config, and a plan).
///
/// ```
/// let model = nninit::arch::mlp(&[8, 4], nninit::DType::F32)?;
/// let e = nninit::check::expectations(&model);
/// assert!(e["layer.0.weight"].init.starts_with("default: kaiming_uniform_"));
/// assert_eq!(e["layer.0.weight"].fans, Some((8, 4)));
/// # Ok::<(), nninit::Error>(())
/// ```
pub fn expectations(model: &Model) -> BTreeMap<String, Recorded> {
    recorded_of(&crate::report::inits_json(model, &crate::stream::unique_state_dict(model).0))
}

/// Parses an `nninit.inits` JSON value.
fn recorded_of(json: &str) -> BTreeMap<String, Recorded> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    map.into_iter()
        .filter_map(|(name, e)| {
            let fan = |k: &str| e.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
            let init = e.get("init")?.as_str()?.to_string();
            Some((name, Recorded { init, fans: fan("fan_in").zip(fan("fan_out")) }))
        })
        .collect()
}

/// A recorded label read back: the main init, the parts initialized afterwards (flat element
/// ranges) and the zeroed rows.
#[derive(Debug)]
struct Label {
    init: Init,
    parts: Vec<(usize, usize, Init)>,
    zeroed_rows: Vec<usize>,
}

fn parse_label(label: &str) -> std::result::Result<Label, String> {
    let mut s = label.trim();
    if let Some(i) = s.find(" (tied: ") {
        s = &s[..i];
    }
    let mut zeroed_rows = Vec::new();
    if let Some(i) = s.rfind(", row ").filter(|_| s.ends_with(" zeroed")) {
        let rows = &s[i + 6..s.len() - 7];
        zeroed_rows = rows
            .split(", ")
            .map(|r| r.trim().parse::<usize>().map_err(|_| format!("row `{r}`")))
            .collect::<std::result::Result<_, _>>()?;
        s = &s[..i];
    }
    let s = s.strip_prefix("default: ").unwrap_or(s);
    let mut pieces = s.split(", then [");
    let main = pieces.next().unwrap_or_default();
    let init: Init = main.parse().map_err(|e: Error| e.to_string())?;
    let mut parts = Vec::new();
    for p in pieces {
        let (range, init) = p.split_once("] ").ok_or_else(|| format!("part `{p}`"))?;
        let (a, b) = range.split_once(':').ok_or_else(|| format!("range `{range}`"))?;
        let num = |x: &str| x.trim().parse::<usize>().map_err(|_| format!("range `{range}`"));
        parts.push((num(a)?, num(b)?, init.parse().map_err(|e: Error| e.to_string())?));
    }
    Ok(Label { init, parts, zeroed_rows })
}

/// The files of a checkpoint: the file itself, or a folder's shards (from its
/// `model.safetensors.index.json`, else every `*.safetensors` in it: `model.safetensors`, or the
/// files `nninit init --shard r/w` wrote, one per rank). Index entries must name
/// files inside the folder (no `..`, no absolute path, no symlink leading out) that exist.
fn files_of(path: &Path) -> Result<Vec<PathBuf>> {
    if !path.exists() {
        return Err(Error::value(format!("{}: no such file or folder", path.display())));
    }
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let root = path.canonicalize().map_err(|e| Error::io(path, e))?;
    let inside = |name: &str| -> Result<PathBuf> {
        let p = Path::new(name);
        if !p.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(Error::value(format!("index entry `{name}` is not a file inside {}", path.display())));
        }
        let full = root.join(p);
        let real = full
            .canonicalize()
            .map_err(|_| Error::value(format!("index entry `{name}`: no such file in {}", path.display())))?;
        if !real.starts_with(&root) {
            return Err(Error::value(format!("index entry `{name}` leads outside {}", path.display())));
        }
        Ok(real)
    };
    let index = root.join("model.safetensors.index.json");
    let mut files: Vec<PathBuf> = if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::parse("index", index.display().to_string(), e.to_string()))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| Error::parse("index", index.display().to_string(), "no `weight_map` object".to_string()))?;
        let mut names: Vec<&str> = Vec::new();
        for (tensor, file) in map {
            let file =
                file.as_str().ok_or_else(|| Error::value(format!("index entry for `{tensor}` is not a file name")))?;
            names.push(file);
        }
        names.sort_unstable();
        names.dedup();
        names.into_iter().map(inside).collect::<Result<_>>()?
    } else {
        let mut v = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(|e| Error::io(path, e))? {
            let p = entry.map_err(|e| Error::io(path, e))?.path();
            if p.extension().is_some_and(|e| e == "safetensors") {
                v.push(inside(&p.file_name().unwrap_or_default().to_string_lossy())?);
            }
        }
        v
    };
    files.sort();
    if files.is_empty() {
        return Err(Error::value(format!("{}: no .safetensors files", path.display())));
    }
    Ok(files)
}

/// Whether any file of `path` (a safetensors file or a model folder, as [`check_path`] reads it)
/// records its tensors' inits (`nninit.inits` or `nninit.init` metadata, as nninit writes them).
/// Reads the headers only.
///
/// ```
/// use nninit::io::Overwrite;
/// let model = nninit::arch::mlp(&[8, 4], nninit::DType::F32)?;
/// let path = std::env::temp_dir().join("nninit-doc-records.safetensors");
/// model.save(&path, nninit::rng::Stream::Torch, 0, Overwrite::Replace)?;
/// assert!(nninit::check::records_inits(&path)?);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// As [`check_path`]: a missing path, a folder whose index names a missing file or one outside
/// it, a malformed header.
pub fn records_inits(path: &Path) -> Result<bool> {
    for f in files_of(path)? {
        let file = std::fs::File::open(&f).map_err(|e| Error::io(&f, e))?;
        let (_, metadata, _) = read_header(&file, &f)?;
        if metadata.contains_key("nninit.inits") || metadata.contains_key("nninit.init") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads a safetensors header without mapping the file: tensors, metadata, data offset.
fn read_header(file: &std::fs::File, path: &Path) -> Result<(Vec<TensorInfo>, HashMap<String, String>, u64)> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    let mut head = [0u8; 9];
    let got = file.read_at(&mut head, 0).map_err(|e| Error::io(path, e))?;
    let n = if got >= 8 { u64::from_le_bytes(head[..8].try_into().unwrap_or_default()) as usize } else { 0 };
    let take = if n <= 100_000_000 && n <= len.saturating_sub(8) { 8 + n } else { got.min(9) };
    let mut buf = vec![0u8; take.min(len)];
    file.read_exact_at(&mut buf, 0).map_err(|e| Error::io(path, e))?;
    let (infos, metadata, start) = crate::io::parse_header_of(&buf, len).map_err(|e| match e {
        Error::Checkpoint(m) => Error::Checkpoint(format!("{}: {m}", path.display())),
        other => other,
    })?;
    Ok((infos, metadata, start as u64))
}

/// `r/w dim d` (`nninit.shard`).
fn parse_shard(s: &str) -> Option<Shard> {
    let (rw, dim) = s.split_once(" dim ")?;
    Shard::parse(rw, dim.trim().parse().ok()?).ok()
}

/// The whole tensor's shape from a shard's slice and the recorded whole-tensor fans (fans are
/// `shape[1]·receptive` and `shape[0]·receptive`).
fn full_shape(shape: &[usize], shard: Option<Shard>, fans: Option<(usize, usize)>) -> Vec<usize> {
    let mut full = shape.to_vec();
    let (Some(sh), Some((fan_in, fan_out))) = (shard, fans) else { return full };
    if shape.len() <= sh.dim || shape.len() < 2 {
        return full;
    }
    let receptive: usize = shape[2..].iter().product();
    match sh.dim {
        0 if receptive > 0 => full[0] = fan_out / receptive,
        1 if receptive > 0 => full[1] = fan_in / receptive,
        d if shape[1] > 0 && shape[d] > 0 => {
            let others = receptive / shape[d];
            if others > 0 {
                full[d] = fan_in / shape[1] / others;
            }
        }
        _ => {}
    }
    full
}

/// Checks every tensor of `path` (a safetensors file or a model folder) against its init: the
/// `given` expectations when present (a plan applied to the layout, [`expectations`]), else the
/// inits the file records (`nninit.inits`, or `nninit.init` for a single tensor).
///
/// ```
/// use nninit::io::Overwrite;
/// let model = nninit::arch::mlp(&[64, 32, 10], nninit::DType::F32)?;
/// let path = std::env::temp_dir().join("nninit-doc-check.safetensors");
/// model.save(&path, nninit::rng::Stream::Torch, 0, Overwrite::Replace)?;
/// let checks = nninit::check::check_path(&path, None)?;
/// assert!(checks.iter().all(|c| c.status == nninit::check::Status::Pass), "{checks:#?}");
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// A missing or unreadable path, a malformed header (naming the file and the broken rule), a
/// folder whose index names a file outside it or missing, a tensor held by two files, a read
/// error. A tensor that cannot be checked (unknown init, non-float dtype, an init that does not
/// fit its shape) is reported as unchecked with the reason, not as an error.
pub fn check_path(path: &Path, given: Option<&BTreeMap<String, Recorded>>) -> Result<Vec<TensorCheck>> {
    let files = files_of(path)?;
    let mut out = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for f in &files {
        let file = std::fs::File::open(f).map_err(|e| Error::io(f, e))?;
        let (infos, metadata, data_start) = read_header(&file, f)?;
        let fname = f.file_name().map_or_else(|| f.display().to_string(), |n| n.to_string_lossy().into_owned());
        // Files written by `--shard r/w` hold slices of the same tensors: one per rank.
        let slice = metadata.get("nninit.shard").map_or(String::new(), |s| format!(" (shard {s})"));
        for info in &infos {
            let key = format!("{}{slice}", info.name);
            if let Some(other) = seen.insert(key, fname.clone()) {
                return Err(Error::value(format!("tensor `{}`{slice} is in both {other} and {fname}", info.name)));
            }
        }
        let mut recorded = metadata.get("nninit.inits").map(|j| recorded_of(j)).unwrap_or_default();
        if let (Some(init), [only]) = (metadata.get("nninit.init"), infos.as_slice()) {
            let fans = crate::init::fan_in_and_fan_out(&only.shape).ok();
            recorded.insert(only.name.clone(), Recorded { init: init.clone(), fans });
        }
        let shard = metadata.get("nninit.shard").and_then(|s| parse_shard(s));
        for info in &infos {
            let c = match given {
                None => check_one(&file, data_start, info, &fname, recorded.get(&info.name), shard)?,
                Some(g) => match g.get(&info.name) {
                    Some(rec) => check_one(&file, data_start, info, &fname, Some(rec), shard)?,
                    None => {
                        let dtype = format!("{:?}", info.dtype).to_lowercase();
                        TensorCheck::new(&fname, &info.name, dtype, &info.shape)
                            .skip("the given plan's model has no tensor of this name")
                    }
                },
            };
            out.push(c);
        }
    }
    Ok(out)
}

fn check_one(
    file: &std::fs::File,
    data_start: u64,
    info: &TensorInfo,
    fname: &str,
    rec: Option<&Recorded>,
    shard: Option<Shard>,
) -> Result<TensorCheck> {
    let dtype_name = format!("{:?}", info.dtype).to_lowercase();
    let mut out = TensorCheck::new(fname, &info.name, dtype_name.clone(), &info.shape);
    let Some(dtype) = DType::from_safetensors(info.dtype) else {
        return Ok(out.skip(format!("dtype {dtype_name} is not a float type")));
    };
    let numel: usize = info.shape.iter().product();
    let shard = shard.filter(|s| info.shape.len() > s.dim);
    out.shard = shard.map(|s| format!("{}/{} dim {}", s.rank, s.world, s.dim));
    let plain = |label: &str| vec![Region { label: label.into(), kind: Kind::Plain, skip_zeros: false }];
    let scan = |regions: Vec<Region>, segments, whole, rows, full_shape| Scan {
        file,
        data_start,
        info,
        dtype,
        full_shape,
        regions,
        segments,
        whole,
        rows,
    };
    let Some(rec) = rec else {
        let mut c = scan(plain("all"), vec![(0, numel, 0)], Whole::None, None, info.shape.clone()).run(out)?;
        c.unchecked = Some("no recorded init (give --plan or --config for a checkpoint made elsewhere)".into());
        if c.status == super::Status::Pass {
            c.status = super::Status::Unchecked;
        }
        return Ok(c);
    };
    out.init = Some(rec.init.clone());
    out.fans = rec.fans;
    let label = match parse_label(&rec.init) {
        Ok(l) => l,
        Err(e) => {
            let why = if rec.init.starts_with("keep_()") || rec.init == "-" || rec.init == "buffer" {
                "given values (no init to compare with)".to_string()
            } else {
                format!("cannot read the recorded init: {e}")
            };
            return Ok(out.skip(why));
        }
    };
    if let (None, Some(expected), Ok(own)) = (shard, rec.fans, crate::init::fan_in_and_fan_out(&info.shape)) {
        if expected != own {
            return Ok(out.skip(format!(
                "the expected init is for fans (fan_in, fan_out) = {expected:?}, the shape {:?} has {own:?}",
                info.shape
            )));
        }
    }
    let full = full_shape(&info.shape, shard, rec.fans);
    out.full_shape = full.clone();
    if full.iter().product::<usize>() < numel {
        return Ok(out.skip(format!("the recorded fans {:?} do not fit the shape {:?}", rec.fans, info.shape)));
    }
    let action = match label.init.action(&full, dtype) {
        Ok(a) => a,
        Err(e) => return Ok(out.skip(format!("the init does not fit the tensor: {e}"))),
    };
    let (kind, mut whole, skip_zeros) = kind_of(action, &label.init, &full);
    if let Kind::Random(law) = &kind {
        out.law = Some(*law);
    }
    let mut regions = vec![Region { label: "all".into(), kind, skip_zeros }];
    let mut paint: Vec<(usize, usize, usize)> = Vec::new();
    let row_len = if info.shape.len() >= 2 && info.shape[0] > 0 { numel / info.shape[0] } else { 0 };
    let mut note = None;
    if !matches!(whole, Whole::None) && (shard.is_some() || !label.parts.is_empty() || !label.zeroed_rows.is_empty()) {
        note = Some("structure of a shard or of a partly re-initialized tensor not tested".to_string());
        whole = Whole::None;
    }
    if shard.is_some() && !label.parts.is_empty() {
        note = Some("parts re-initialized afterwards are not located in a shard".to_string());
    } else {
        for (a, b, init) in &label.parts {
            let cols: usize = full.iter().skip(1).product::<usize>().max(1);
            let pshape = if (b - a) % cols == 0 && full.len() >= 2 { vec![(b - a) / cols, cols] } else { vec![b - a] };
            let kind = match init.action(&pshape, dtype) {
                Ok(act) => kind_of(act, init, &pshape).0,
                Err(_) => Kind::Plain,
            };
            regions.push(Region { label: format!("[{a}:{b}]"), kind, skip_zeros: false });
            paint.push(((*a).min(numel), (*b).min(numel), regions.len() - 1));
        }
    }
    // Zeroed rows, in the slice's coordinates.
    let offset = shard.filter(|s| s.dim == 0).map_or(0, |s| s.range(full[0]).0);
    let row_full = if full.len() >= 2 { full[1..].iter().product::<usize>() } else { 1 };
    let mut skip_rows = Vec::new();
    for &r in &label.zeroed_rows {
        if shard.is_some_and(|s| s.dim != 0) || r < offset || (r - offset) * row_full >= numel {
            continue;
        }
        let local = r - offset;
        regions.push(Region { label: format!("row {r}"), kind: Kind::Constant(0.0, "padding_row"), skip_zeros: false });
        paint.push((local * row_full, (local + 1) * row_full, regions.len() - 1));
        skip_rows.push(local);
    }
    let segments = segments(numel, &paint);
    let rows = (row_len >= 2 && label.parts.is_empty() && matches!(regions[0].kind, Kind::Random(_)) && !skip_zeros)
        .then_some(RowTest { len: row_len, skip: skip_rows });
    let mut c = scan(regions, segments, whole, rows, full).run(out)?;
    if c.unchecked.is_none() {
        c.unchecked = note;
    }
    Ok(c)
}

/// Elementary intervals of `[0, n)` with the region painted last (0 where none is).
fn segments(n: usize, paint: &[(usize, usize, usize)]) -> Vec<(usize, usize, usize)> {
    let mut cuts: Vec<usize> = vec![0, n];
    for &(a, b, _) in paint {
        cuts.push(a.min(n));
        cuts.push(b.min(n));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let r = paint.iter().rev().find(|p| p.0 <= a && b <= p.1).map_or(0, |p| p.2);
        match out.last_mut() {
            Some(last) if last.2 == r && last.1 == a => last.1 = b,
            _ => out.push((a, b, r)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_back() {
        let l = parse_label("default: normal_(mean=0.0, std=1.0), row 1 zeroed").unwrap();
        assert_eq!((l.init.name(), l.zeroed_rows), ("normal_", vec![1]));
        let l = parse_label("uniform_(a=-0.25, b=0.25), then [16:32] constant_(val=1.0) (tied: x)").unwrap();
        assert_eq!(l.parts.len(), 1);
        assert_eq!((l.parts[0].0, l.parts[0].1), (16, 32));
        assert!(parse_label("keep_() (given values)").is_err());
    }

    #[test]
    fn shard_shapes_come_back_from_fans() {
        let sh = Shard { rank: 0, world: 4, dim: 0 };
        assert_eq!(full_shape(&[16, 64], Some(sh), Some((64, 64))), vec![64, 64]);
        let sh = Shard { rank: 1, world: 2, dim: 1 };
        assert_eq!(full_shape(&[8, 3, 3, 3], Some(sh), Some((54, 72))), vec![8, 6, 3, 3]);
        assert_eq!(segments(10, &[(2, 4, 1), (3, 5, 2)]), vec![(0, 2, 0), (2, 3, 1), (3, 5, 2), (5, 10, 0)]);
    }
}
