//! Hugging Face model folders: writing what `PreTrainedModel.save_pretrained` writes
//! (`config.json`, `model.safetensors` or `model-0000K-of-0000N.safetensors` shards with
//! `model.safetensors.index.json`), and reading a folder (or a single file) safely.
//!
//! Shards follow `huggingface_hub.split_state_dict_into_shards_factory` (transformers 5.24's
//! `save_pretrained`): tensors in `state_dict` order, tied tensors once; a tensor larger than the
//! limit gets a shard of its own (placed before the shard being filled); otherwise a shard is
//! closed when the next tensor would take it over the limit.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::{Checkpoint, Overwrite, TensorInfo, Writer};
use crate::nn::Model;
use crate::stream::{self, SaveOptions, Saved};
use crate::tensor::{DType, Tensor};

/// The weights file of an unsharded folder.
pub const WEIGHTS: &str = "model.safetensors";
/// The index of a sharded folder.
pub const INDEX: &str = "model.safetensors.index.json";
/// The configuration file.
pub const CONFIG: &str = "config.json";
/// transformers' default `max_shard_size`.
pub const DEFAULT_MAX_SHARD_SIZE: &str = "50GB";

/// `huggingface_hub.serialization.parse_size_to_int`: a number followed by `TB`, `GB`, `MB` or
/// `KB` (powers of 10, case-insensitive; `"5.5GB"` allowed), or a plain number of bytes.
///
/// ```
/// assert_eq!(nninit::folder::parse_size("50GB")?, 50_000_000_000);
/// assert_eq!(nninit::folder::parse_size("20kb")?, 20_000);
/// assert_eq!(nninit::folder::parse_size("1234")?, 1234);
/// assert!(nninit::folder::parse_size("5GiB").is_err());
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// Another unit, or no number.
pub fn parse_size(s: &str) -> Result<u64> {
    let s = s.trim();
    let bad = || Error::parse("max-shard-size", s, "expected a size such as 50GB, 500MB, 20KB or a number of bytes");
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let unit = s.get(s.len().saturating_sub(2)..).ok_or_else(bad)?.to_ascii_uppercase();
    let multiplier = match unit.as_str() {
        "TB" => 1e12,
        "GB" => 1e9,
        "MB" => 1e6,
        "KB" => 1e3,
        _ => return Err(bad()),
    };
    let value: f64 = s[..s.len() - 2].trim().parse().map_err(|_| bad())?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(bad());
    }
    Ok((value * multiplier) as u64)
}

/// Groups tensors of byte sizes `sizes` (in `state_dict` order) into shards of at most `max`
/// bytes exactly as `split_state_dict_into_shards_factory`: returns the indices in each shard.
///
/// ```
/// // 6, 6, 2, 6, 2, 2 GB with a 10 GB limit: [6], [6+2], [6+2+2].
/// let gb = 1_000_000_000;
/// let shards = nninit::folder::split(&[6 * gb, 6 * gb, 2 * gb, 6 * gb, 2 * gb, 2 * gb], 10 * gb);
/// assert_eq!(shards, vec![vec![0], vec![1, 2], vec![3, 4, 5]]);
/// // A tensor over the limit gets its own shard, before the one being filled.
/// assert_eq!(nninit::folder::split(&[1, 30, 2], 10), vec![vec![1], vec![0, 2]]);
/// ```
pub fn split(sizes: &[u64], max: u64) -> Vec<Vec<usize>> {
    let mut shards = Vec::new();
    let (mut current, mut current_size) = (Vec::new(), 0u64);
    for (i, &size) in sizes.iter().enumerate() {
        if size > max {
            shards.push(vec![i]);
            continue;
        }
        if current_size + size > max {
            shards.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current.push(i);
        current_size += size;
    }
    if !current.is_empty() {
        shards.push(current);
    }
    shards
}

/// The file name of shard `k` (from 1) of `n`: `model-0000k-of-0000n.safetensors`.
pub fn shard_name(k: usize, n: usize) -> String {
    format!("model-{k:05}-of-{n:05}.safetensors")
}

/// PyTorch's name of a dtype, as `config.json`'s `dtype` holds it.
pub fn torch_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F16 => "float16",
        DType::BF16 => "bfloat16",
        DType::F32 => "float32",
        DType::F64 => "float64",
    }
}

/// Files `save_pretrained` writes in a folder: what `--force` may replace.
fn is_model_file(name: &str) -> bool {
    name == CONFIG
        || name == "generation_config.json"
        || name == WEIGHTS
        || name == INDEX
        || (name.starts_with("model-") && name.ends_with(".safetensors"))
}

/// Checks that `dir` can be written: absent, or (with [`Overwrite::Replace`]) a folder holding
/// only model files; its parent exists. Returns the parent.
fn check_folder_destination(dir: &Path, overwrite: Overwrite) -> Result<PathBuf> {
    if let Ok(meta) = std::fs::symlink_metadata(dir) {
        if !meta.is_dir() {
            return Err(Error::value(format!("{} exists and is not a folder", dir.display())));
        }
        if overwrite == Overwrite::Refuse {
            return Err(Error::value(format!("{} exists (use --force to overwrite)", dir.display())));
        }
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let entry = entry.map_err(|e| Error::io(dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !is_model_file(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
                return Err(Error::value(format!(
                    "{} holds {name}, which is not a model file: refusing to replace the folder",
                    dir.display()
                )));
            }
        }
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::value(format!("output directory {} does not exist", parent.display())));
    }
    Ok(parent)
}

/// JSON as Python's `json.dumps(value, indent=2, sort_keys=True) + "\n"` writes it.
fn pretty(value: &serde_json::Value) -> String {
    // serde_json's maps are sorted (no `preserve_order`), its pretty printer indents by 2.
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// The written folder's `config.json`: the source config with `dtype` set to what was written
/// (`torch_dtype`, the older key, removed: transformers 5 writes `dtype`).
fn config_json(config: &serde_json::Value, dtype: Option<DType>) -> serde_json::Value {
    let mut config = config.clone();
    if let (Some(obj), Some(d)) = (config.as_object_mut(), dtype) {
        obj.remove("torch_dtype");
        obj.insert("dtype".into(), torch_name(d).into());
    }
    config
}

/// Writes `model` as a folder `save_pretrained` would write (see the module docs), atomically:
/// everything goes to a temporary folder next to `dir`, renamed into place when complete (an
/// existing folder holding only model files is replaced with [`Overwrite::Replace`]). Each shard
/// is streamed as [`Model::save`] streams one file; each holds `format = pt` and nninit's
/// metadata.
///
/// # Errors
/// An existing `dir` (without `Replace`), a `dir` holding other files, a missing parent; I/O
/// errors; an init's error (nothing is left behind).
pub(crate) fn write(
    model: &Model,
    config: &serde_json::Value,
    dir: &Path,
    max_shard_size: u64,
    options: &SaveOptions,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<Saved> {
    let parent = check_folder_destination(dir, options.overwrite)?;
    let mut prepared = stream::prepare(model, options);
    let full_layout = prepared.layout(model, options);
    let sizes: Vec<u64> =
        full_layout.iter().map(|l| (l.shape.iter().product::<usize>() * l.dtype.bitsize() / 8) as u64).collect();
    let shards = split(&sizes, max_shard_size);
    let tmp = tempfile::Builder::new().prefix(".nninit-").tempdir_in(&parent).map_err(|e| Error::io(&parent, e))?;
    let names: Vec<String> = match shards.len() {
        1 => vec![WEIGHTS.to_string()],
        n => (1..=n).map(|k| shard_name(k, n)).collect(),
    };
    let mut writers = Vec::new();
    let mut weight_map = BTreeMap::new();
    for (members, name) in shards.iter().zip(&names) {
        let layout: Vec<_> = members.iter().map(|&i| full_layout[i].clone()).collect();
        for &i in members {
            weight_map.insert(full_layout[i].name.clone(), serde_json::Value::from(name.as_str()));
        }
        writers.push(Writer::create(&tmp.path().join(name), &layout, &prepared.metadata, Overwrite::Refuse)?);
    }
    prepared.metadata.clear();
    prepared.make_targets(model, options);
    // Each target goes to its shard's writer, at its place in that shard's layout.
    for (file, members) in shards.iter().enumerate() {
        for (at, &i) in members.iter().enumerate() {
            if let Some(t) = prepared.targets.list.get_mut(i) {
                t.index = at;
                t.file = file;
            }
        }
    }
    stream::generate(model, &prepared.targets, options, &writers, progress)?;
    for w in writers {
        w.finish()?;
    }
    if shards.len() > 1 {
        let mut seen = HashSet::new();
        let total_parameters: usize = model
            .named_parameters()
            .into_iter()
            .filter(|(_, id)| seen.insert(*id))
            .map(|(_, id)| model.tensor(id).numel())
            .sum();
        let index = serde_json::json!({
            "metadata": {"total_parameters": total_parameters, "total_size": sizes.iter().sum::<u64>()},
            "weight_map": weight_map,
        });
        write_text(&tmp.path().join(INDEX), &pretty(&index))?;
    }
    let dtype = full_layout.iter().find_map(|l| DType::from_safetensors(l.dtype));
    write_text(&tmp.path().join(CONFIG), &pretty(&config_json(config, dtype)))?;
    move_into_place(tmp, dir, &parent)?;
    // The layout order of `prepared` is unchanged; only the targets' places moved.
    Ok(prepared.saved())
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// Renames the complete temporary folder to `dir`; an existing `dir` (checked to hold only
/// model files) is moved aside first and removed afterwards.
fn move_into_place(tmp: tempfile::TempDir, dir: &Path, parent: &Path) -> Result<()> {
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755));
    }
    if std::fs::symlink_metadata(dir).is_ok() {
        let old =
            tempfile::Builder::new().prefix(".nninit-old-").tempdir_in(parent).map_err(|e| Error::io(parent, e))?;
        let aside = old.path().join("previous");
        std::fs::rename(dir, &aside).map_err(|e| Error::io(dir, e))?;
        if let Err(e) = std::fs::rename(tmp.path(), dir) {
            let _ = std::fs::rename(&aside, dir);
            return Err(Error::io(dir, e));
        }
        let _ = tmp.keep();
        drop(old);
        return Ok(());
    }
    std::fs::rename(tmp.path(), dir).map_err(|e| Error::io(dir, e))?;
    let _ = tmp.keep();
    Ok(())
}

/// A checkpoint to read tensors from: one safetensors file, or a model folder (`model.safetensors`,
/// or the shards its `model.safetensors.index.json` names). A folder's index is checked before
/// any shard is opened: every shard must be a plain file name inside the folder (no `..`, no
/// absolute path, no symbolic link leading out of it) that exists, and no tensor may be held by
/// two shards; so nothing outside the folder is ever opened.
pub struct Source {
    files: Vec<(PathBuf, Checkpoint)>,
    /// Each tensor's file and its place in that file's tensors.
    index: BTreeMap<String, (usize, usize)>,
    config: Option<PathBuf>,
}

impl Source {
    /// Opens `path` (see [`Source`]).
    ///
    /// ```
    /// let dir = std::env::temp_dir().join("nninit-doc-source");
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("model.safetensors.index.json"),
    ///     r#"{"weight_map": {"w": "../outside.safetensors"}}"#).unwrap();
    /// let err = nninit::folder::Source::open(&dir).err().unwrap();
    /// assert!(err.to_string().contains("../outside.safetensors"), "{err}");
    /// # std::fs::remove_dir_all(&dir).ok();
    /// ```
    ///
    /// # Errors
    /// A folder with neither weights file; an unreadable or malformed index; an index entry
    /// naming a shard outside the folder, a missing shard, or a tensor its shard lacks; a tensor
    /// in two shards; an unreadable or malformed safetensors file. Each names the file and entry.
    pub fn open(path: &Path) -> Result<Source> {
        if !path.is_dir() {
            let ckpt = Checkpoint::open(path)?;
            let index = ckpt.tensors().iter().enumerate().map(|(i, t)| (t.name.clone(), (0, i))).collect();
            return Ok(Source { files: vec![(path.to_path_buf(), ckpt)], index, config: None });
        }
        let config = Some(path.join(CONFIG)).filter(|p| p.is_file());
        let index_path = path.join(INDEX);
        let shard_names: Vec<String> = if index_path.exists() {
            let map = read_index(&index_path)?;
            let mut names: Vec<String> = Vec::new();
            for (tensor, shard) in &map {
                check_shard_path(path, &index_path, tensor, shard)?;
                if !names.contains(shard) {
                    names.push(shard.clone());
                }
            }
            // Shards in their names' order (`model-00001-of-0000N` first): the tensors' file order.
            names.sort();
            let mut source = Source { files: Vec::new(), index: BTreeMap::new(), config };
            for name in &names {
                let file = path.join(name);
                source.files.push((file.clone(), Checkpoint::open(&file)?));
            }
            source.index_tensors()?;
            for (tensor, shard) in &map {
                match source.index.get(tensor) {
                    Some((f, _)) if source.files[*f].0 == path.join(shard) => {}
                    _ => {
                        return Err(Error::value(format!(
                            "{}: tensor `{tensor}` is mapped to {shard}, which does not hold it",
                            index_path.display()
                        )))
                    }
                }
            }
            return Ok(source);
        } else if path.join(WEIGHTS).is_file() {
            vec![WEIGHTS.to_string()]
        } else {
            return Err(Error::value(format!("{} holds neither {WEIGHTS} nor {INDEX}", path.display())));
        };
        for name in &shard_names {
            check_shard_path(path, &path.join(WEIGHTS), name, name)?;
        }
        let file = path.join(WEIGHTS);
        let mut source =
            Source { files: vec![(file.clone(), Checkpoint::open(&file)?)], index: BTreeMap::new(), config };
        source.index_tensors()?;
        Ok(source)
    }

    /// Indexes every file's tensors; a tensor in two files is an error naming both.
    fn index_tensors(&mut self) -> Result<()> {
        for (f, (path, ckpt)) in self.files.iter().enumerate() {
            for (i, t) in ckpt.tensors().iter().enumerate() {
                if let Some((g, _)) = self.index.insert(t.name.clone(), (f, i)) {
                    return Err(Error::value(format!(
                        "tensor `{}` is held by two shards: {} and {}",
                        t.name,
                        self.files[g].0.display(),
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The folder's `config.json`, if any.
    pub fn config(&self) -> Option<&Path> {
        self.config.as_deref()
    }

    /// Every tensor's name and header entry, by name.
    pub fn tensors(&self) -> impl Iterator<Item = (&str, &TensorInfo)> {
        self.index.iter().map(|(n, (f, i))| (n.as_str(), &self.files[*f].1.tensors()[*i]))
    }

    /// Every tensor's header entry in file order, a folder's shards in their names' order (the
    /// order `save_pretrained` wrote them: the model's `state_dict` order).
    pub fn infos_in_file_order(&self) -> Vec<TensorInfo> {
        self.files.iter().flat_map(|(_, c)| c.tensors().iter().cloned()).collect()
    }

    /// The header entry of tensor `name`.
    pub fn info(&self, name: &str) -> Option<&TensorInfo> {
        self.index.get(name).map(|(f, i)| &self.files[*f].1.tensors()[*i])
    }

    /// Tensor `name`'s values.
    ///
    /// # Errors
    /// An unknown name; a tensor whose bytes do not decode.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let (f, i) = self.index.get(name).ok_or_else(|| Error::value(format!("no tensor `{name}`")))?;
        let ckpt = &self.files[*f].1;
        ckpt.tensor(&ckpt.tensors()[*i])
    }

    /// Reads `buf.len()` bytes of tensor `name` from byte `offset` of its data
    /// ([`Checkpoint::read_at`]: a positioned read, memory bounded by `buf`).
    ///
    /// # Errors
    /// An unknown name; a range past the tensor's end; I/O errors.
    pub fn read_at(&self, name: &str, offset: usize, buf: &mut [u8]) -> Result<()> {
        let (f, i) = self.index.get(name).ok_or_else(|| Error::value(format!("no tensor `{name}`")))?;
        let ckpt = &self.files[*f].1;
        ckpt.read_at(&ckpt.tensors()[*i], offset, buf)
    }

    /// The metadata of the first file.
    pub fn metadata(&self) -> Option<&HashMap<String, String>> {
        self.files.first().map(|(_, c)| c.metadata())
    }
}

/// The index's `weight_map`.
fn read_index(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::parse("index", path.display().to_string(), e.to_string()))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::value(format!("{}: no `weight_map` object", path.display())))?;
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_string())),
            None => Err(Error::value(format!("{}: weight_map entry `{k}` is not a file name", path.display()))),
        })
        .collect()
}

/// Refuses an index entry whose shard is not a plain name of an existing regular file inside
/// `dir` (a symbolic link is followed only if it stays inside).
fn check_shard_path(dir: &Path, index: &Path, tensor: &str, shard: &str) -> Result<()> {
    let refuse = |why: &str| Err(Error::value(format!("{}: entry `{tensor}` -> `{shard}` {why}", index.display())));
    let p = Path::new(shard);
    let plain = p.components().count() == 1 && matches!(p.components().next(), Some(std::path::Component::Normal(_)));
    if shard.is_empty() || !plain || shard.contains('\\') {
        return refuse("is not a file name inside the folder");
    }
    let full = dir.join(p);
    let meta = match std::fs::symlink_metadata(&full) {
        Ok(m) => m,
        Err(_) => return refuse("names a shard that does not exist"),
    };
    if meta.file_type().is_symlink() {
        let (Ok(target), Ok(root)) = (std::fs::canonicalize(&full), std::fs::canonicalize(dir)) else {
            return refuse("is a broken symbolic link");
        };
        if !target.starts_with(&root) {
            return refuse("is a symbolic link leading out of the folder");
        }
    }
    if !full.is_file() {
        return refuse("is not a regular file");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_matches_huggingface_hub() {
        // The case of huggingface_hub's docstring, and the order of an oversized tensor's shard.
        assert_eq!(split(&[6, 6, 2, 6, 2, 2], 10), vec![vec![0], vec![1, 2], vec![3, 4, 5]]);
        assert_eq!(split(&[3, 20, 3, 3, 20], 10), vec![vec![1], vec![4], vec![0, 2, 3]]);
        assert_eq!(split(&[5, 5], 10), vec![vec![0, 1]]);
        assert_eq!(split(&[], 10), Vec::<Vec<usize>>::new());
    }

    #[test]
    fn sizes_parse_as_huggingface_hub() {
        assert_eq!(parse_size("50GB").unwrap(), 50_000_000_000);
        assert_eq!(parse_size(" 1.5 MB").unwrap(), 1_500_000);
        assert_eq!(parse_size("2TB").unwrap(), 2_000_000_000_000);
        for bad in ["", "GB", "5GiB", "-1GB", "x"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}
