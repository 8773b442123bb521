//! safetensors files, read and written with the `safetensors` crate.
//!
//! The format's types come from the `safetensors` crate. Reading checks the header with errors
//! that name the tensor and the broken rule (the crate's own errors do not always name the
//! tensor). Writing is ours: the crate's writer needs each tensor's bytes at once and orders
//! `__metadata__` by a per-process random hash, while checkpoints here must stream and be
//! byte-for-byte reproducible. It goes to a temporary file in the destination's directory that is
//! renamed into place, so a failure never leaves a half-written file behind.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::Dtype;

use crate::error::{Error, Result};
use crate::tensor::{DType, Data, Tensor};

/// The largest header readers accept (the `safetensors` crate's limit).
const MAX_HEADER: usize = 100_000_000;

/// One tensor's entry in a safetensors header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Name (`state_dict` key).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
    /// Byte range within the data section, `[begin, end)`.
    pub data_offsets: (usize, usize),
}

#[derive(serde::Deserialize)]
struct RawInfo {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// Parses and checks a header: every tensor's byte length matches dtype × shape, ranges lie
/// within the data, do not overlap, leave no hole, and the data ends with the last tensor.
/// Returns the tensors in file order, the `__metadata__` map and the data section's offset.
pub(crate) fn parse_header(
    bytes: &[u8],
    total_len: usize,
) -> Result<(Vec<TensorInfo>, HashMap<String, String>, usize)> {
    let bad = |m: String| Error::Checkpoint(m);
    let n = bytes.get(..8).ok_or_else(|| bad(format!("file of {total_len} bytes is too short for a header")))?;
    let n = u64::from_le_bytes(n.try_into().map_err(|_| bad("header length".into()))?) as usize;
    if total_len > 8 && bytes.get(8) != Some(&b'{') {
        // Not a header at all (a text file, another format): say so, not a huge length.
        return Err(bad(
            "not a safetensors file (it does not start with an 8-byte header length and a JSON header)".into()
        ));
    }
    if n > MAX_HEADER {
        return Err(bad(format!("header length {n} exceeds the safetensors limit of {MAX_HEADER} bytes")));
    }
    if n > total_len.saturating_sub(8) {
        return Err(bad(format!("header length {n} exceeds the file ({total_len} bytes)")));
    }
    let header = bytes.get(8..8 + n).ok_or_else(|| bad("truncated header".into()))?;
    let header = std::str::from_utf8(header).map_err(|e| bad(format!("header is not UTF-8: {e}")))?;
    let mut raw: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(header).map_err(|e| bad(format!("header is not a JSON object: {e}")))?;
    let metadata = match raw.remove("__metadata__") {
        Some(v) => {
            serde_json::from_value(v).map_err(|e| bad(format!("__metadata__ must map strings to strings: {e}")))?
        }
        None => HashMap::new(),
    };
    let data_len = total_len - 8 - n;
    let mut infos = Vec::with_capacity(raw.len());
    for (name, v) in raw {
        let r: RawInfo = serde_json::from_value(v).map_err(|e| bad(format!("tensor `{name}`: bad entry: {e}")))?;
        let (b, e) = r.data_offsets;
        if e < b {
            return Err(bad(format!("tensor `{name}`: data_offsets [{b}, {e}] end before they begin")));
        }
        let bits = r.shape.iter().try_fold(r.dtype.bitsize(), |acc, &d| acc.checked_mul(d));
        let need = bits
            .map(|b| b.div_ceil(8))
            .ok_or_else(|| bad(format!("tensor `{name}`: shape {:?} overflows", r.shape)))?;
        if e - b != need {
            return Err(bad(format!(
                "tensor `{name}`: {:?} {:?} needs {need} bytes but data_offsets [{b}, {e}] hold {}",
                r.dtype,
                r.shape,
                e - b
            )));
        }
        if e > data_len {
            return Err(bad(format!("tensor `{name}`: data_offsets [{b}, {e}] run past the data ({data_len} bytes)")));
        }
        infos.push(TensorInfo { name, dtype: r.dtype, shape: r.shape, data_offsets: r.data_offsets });
    }
    infos.sort_by_key(|t| t.data_offsets);
    let mut end = 0;
    let mut prev: Option<&TensorInfo> = None;
    for t in &infos {
        let (b, e) = t.data_offsets;
        if b < end {
            let p = prev.map_or("", |p| p.name.as_str());
            return Err(bad(format!("tensors `{p}` and `{}` overlap (byte {b} < {end})", t.name)));
        }
        if b > end {
            return Err(bad(format!(
                "a hole of {} bytes before tensor `{}` (bytes {end}..{b} belong to no tensor)",
                b - end,
                t.name
            )));
        }
        end = e;
        if e > b || prev.is_none() {
            prev = Some(t);
        }
    }
    if end != data_len {
        let last = prev.map_or(String::new(), |p| format!(" `{}`", p.name));
        return Err(bad(format!("{} trailing bytes after the last tensor{last}", data_len - end)));
    }
    Ok((infos, metadata, 8 + n))
}

/// A safetensors file, memory-mapped and validated.
pub struct Checkpoint {
    map: memmap2::Mmap,
    file: std::fs::File,
    tensors: Vec<TensorInfo>,
    metadata: HashMap<String, String>,
    data_start: usize,
}

impl Checkpoint {
    /// Opens and validates `path` (`safetensors.safe_open`): the header is checked (every
    /// tensor's dtype, shape and byte range, no overlaps or holes), the data memory-mapped.
    ///
    /// ```
    /// use nninit::io::{write, Checkpoint, Entry, Overwrite};
    /// let path = std::env::temp_dir().join("nninit-doc-open.safetensors");
    /// let t = nninit::Tensor::from_f32(&[2, 2], vec![1.0, 2.0, 3.0, 4.0])?;
    /// write(&path, &[Entry { name: "w".into(), source: &t }], &Default::default(), Overwrite::Replace)?;
    /// let ckpt = Checkpoint::open(&path)?;
    /// assert_eq!((ckpt.tensors()[0].name.as_str(), &ckpt.tensors()[0].shape[..]), ("w", &[2usize, 2][..]));
    /// assert_eq!(ckpt.tensor(&ckpt.tensors()[0])?, t);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if unreadable; [`Error::Checkpoint`] naming the tensor and the broken rule if
    /// malformed.
    pub fn open(path: &Path) -> Result<Self> {
        if path.is_dir() {
            return Err(Error::value(format!("{} is a directory, not a safetensors file", path.display())));
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        if !file.metadata().map_err(|e| Error::io(path, e))?.is_file() {
            return Err(Error::value(format!("{} is not a regular file", path.display())));
        }
        // SAFETY: the map is read-only; a file changed under us while mapped can only yield
        // wrong values, which later checks catch or the user sees.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let (tensors, metadata, data_start) = parse_header(&map, map.len()).map_err(|e| match e {
            Error::Checkpoint(m) => Error::Checkpoint(format!("{}: {m}", path.display())),
            other => other,
        })?;
        Ok(Checkpoint { map, file, tensors, metadata, data_start })
    }

    /// The tensors in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The `__metadata__` map.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The raw little-endian bytes of a tensor.
    pub fn bytes(&self, info: &TensorInfo) -> &[u8] {
        &self.map[self.data_start + info.data_offsets.0..self.data_start + info.data_offsets.1]
    }

    /// Reads `buf.len()` bytes of tensor `info` from byte `offset` of its data, with a
    /// positioned read (the mapped pages are not touched, so reading a large tensor piece by
    /// piece keeps memory bounded by `buf`).
    ///
    /// ```
    /// use nninit::io::{write, Checkpoint, Entry, Overwrite};
    /// let path = std::env::temp_dir().join("nninit-doc-read-at.safetensors");
    /// let t = nninit::Tensor::from_f32(&[3], vec![1.0, 2.0, 3.0])?;
    /// write(&path, &[Entry { name: "w".into(), source: &t }], &Default::default(), Overwrite::Replace)?;
    /// let ckpt = Checkpoint::open(&path)?;
    /// let mut buf = [0u8; 4];
    /// ckpt.read_at(&ckpt.tensors()[0], 8, &mut buf)?;
    /// assert_eq!(f32::from_le_bytes(buf), 3.0);
    /// # std::fs::remove_file(&path).ok();
    /// # Ok::<(), nninit::Error>(())
    /// ```
    ///
    /// # Errors
    /// A range past the tensor's end; I/O errors (a file shortened since it was opened).
    pub fn read_at(&self, info: &TensorInfo, offset: usize, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let (begin, end) = info.data_offsets;
        if offset.checked_add(buf.len()).is_none_or(|e| begin + e > end) {
            return Err(Error::value(format!(
                "tensor `{}`: a read of {} bytes at {offset} is past its {} bytes",
                info.name,
                buf.len(),
                end - begin
            )));
        }
        let at = (self.data_start + begin + offset) as u64;
        self.file.read_exact_at(buf, at).map_err(|e| Error::value(format!("tensor `{}`: {e}", info.name)))
    }

    /// A tensor as an owned [`Tensor`].
    pub fn tensor(&self, info: &TensorInfo) -> Result<Tensor> {
        to_tensor(info, self.bytes(info))
    }
}

/// Decodes raw little-endian bytes into a [`Tensor`].
fn to_tensor(info: &TensorInfo, bytes: &[u8]) -> Result<Tensor> {
    match DType::from_safetensors(info.dtype) {
        Some(dtype) => Tensor::from_le_bytes(&info.shape, dtype, bytes),
        None => Tensor::new(&info.shape, Data::Other { dtype: info.dtype, bytes: bytes.to_vec() }),
    }
}

/// Reads only the header of `path`: the tensors (file order) and metadata. Errors as
/// [`Checkpoint::open`].
pub fn read_layout(path: &Path) -> Result<(Vec<TensorInfo>, HashMap<String, String>)> {
    let c = Checkpoint::open(path)?;
    Ok((c.tensors, c.metadata))
}

/// Decodes a whole safetensors buffer: `(name, tensor)` in file order, and the metadata.
///
/// ```
/// let err = nninit::io::load_bytes(b"not a checkpoint").unwrap_err();
/// assert!(err.to_string().starts_with("malformed checkpoint"), "{err}");
/// ```
///
/// # Errors
/// [`Error::Checkpoint`] as [`Checkpoint::open`].
pub fn load_bytes(bytes: &[u8]) -> Result<(Vec<(String, Tensor)>, HashMap<String, String>)> {
    let (infos, metadata, start) = parse_header(bytes, bytes.len())?;
    let tensors = infos
        .iter()
        .map(|i| Ok((i.name.clone(), to_tensor(i, &bytes[start + i.data_offsets.0..start + i.data_offsets.1])?)))
        .collect::<Result<_>>()?;
    Ok((tensors, metadata))
}

/// Where a tensor's bytes come from when writing: produced on demand, one tensor at a time.
pub trait TensorSource: Sync {
    /// The safetensors dtype.
    fn dtype(&self) -> Dtype;
    /// The shape.
    fn shape(&self) -> &[usize];
    /// Writes the little-endian bytes, `numel × dtype size` of them (called once, in file order).
    fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()>;
}

impl TensorSource for Tensor {
    fn dtype(&self) -> Dtype {
        self.safetensors_dtype()
    }
    fn shape(&self) -> &[usize] {
        Tensor::shape(self)
    }
    fn write_to(&self, w: &mut dyn Write) -> std::io::Result<()> {
        w.write_all(self.bytes())
    }
}

/// A named tensor to write.
pub struct Entry<'a> {
    /// Name.
    pub name: String,
    /// Data source.
    pub source: &'a dyn TensorSource,
}

/// Writes the header to `out`, unpadded: `__metadata__` (keys sorted), then the tensors in the
/// given order with consecutive `data_offsets`. Returns each tensor's byte size. Written piece by
/// piece, so a header of tens of MB (a model of many tensors) is never held whole in memory.
/// Our own errors (a shape too large, a write's) travel inside the `io::Error` ([`from_io`]).
fn write_header(
    layout: &[Layout],
    metadata: &BTreeMap<String, String>,
    out: &mut dyn Write,
) -> std::io::Result<Vec<u64>> {
    out.write_all(b"{")?;
    if !metadata.is_empty() {
        out.write_all(b"\"__metadata__\":")?;
        serde_json::to_writer(&mut *out, metadata)?;
    }
    let mut offset = 0u64;
    let mut sizes = Vec::with_capacity(layout.len());
    for (i, t) in layout.iter().enumerate() {
        let numel = t.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let bytes =
            numel.and_then(|n| n.checked_mul(t.dtype.bitsize())).map(|b| b.div_ceil(8) as u64).ok_or_else(|| {
                std::io::Error::other(Error::value(format!("tensor `{}`: shape {:?} is too large", t.name, t.shape)))
            })?;
        let comma = if i > 0 || !metadata.is_empty() { "," } else { "" };
        write!(
            out,
            "{comma}{}:{{\"dtype\":{},\"shape\":{},\"data_offsets\":[{},{}]}}",
            json(&t.name),
            json(&t.dtype),
            json(&t.shape),
            offset,
            offset + bytes
        )?;
        offset += bytes;
        sizes.push(bytes);
    }
    out.write_all(b"}")?;
    Ok(sizes)
}

/// An error out of one of our `io::Write`s: our own error as it was (it travels inside the
/// `io::Error`), else an I/O error on `path`.
fn from_io(e: std::io::Error, path: &Path) -> Error {
    match e.downcast::<Error>() {
        Ok(ours) => ours,
        Err(io) => Error::io(path, io),
    }
}

/// Counts the bytes written to it (the header's length, before writing it).
#[derive(Default)]
struct Count(usize);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether an existing output file may be replaced (the command line's `--force`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overwrite {
    /// Keep an existing file: writing fails.
    #[default]
    Refuse,
    /// Replace an existing regular file (atomically, once the new one is complete).
    Replace,
}

impl Overwrite {
    /// `Replace` when `force` (a command-line flag) is set.
    pub fn from_flag(force: bool) -> Self {
        if force {
            Overwrite::Replace
        } else {
            Overwrite::Refuse
        }
    }
}

/// JSON text of a header value (names, dtypes, shapes, the metadata map).
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Where [`fn@write`] will write `path` (call it to fail early, before any work): a symlink is
/// followed to its target; anything existing there must be a regular file (replaced only with
/// [`Overwrite::Replace`]), and the directory must exist.
///
/// ```
/// use nninit::io::{check_destination, Overwrite};
/// let dir = std::env::temp_dir();
/// assert!(check_destination(&dir.join("fresh.safetensors"), Overwrite::Refuse).is_ok());
/// assert!(check_destination(&dir, Overwrite::Replace).is_err()); // a directory
/// ```
///
/// # Errors
/// An existing file with [`Overwrite::Refuse`] ("exists (use --force to overwrite)"), a path that
/// is not a regular file, a missing directory.
pub fn check_destination(path: &Path, overwrite: Overwrite) -> Result<PathBuf> {
    let target = match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|e| Error::io(path, e))?,
        _ => path.to_path_buf(),
    };
    if let Ok(meta) = std::fs::metadata(&target) {
        if meta.is_dir() {
            return Err(Error::value(format!("{} is a directory", path.display())));
        }
        if !meta.is_file() {
            return Err(Error::value(format!("{} is not a regular file; refusing to replace it", path.display())));
        }
        if overwrite == Overwrite::Refuse {
            return Err(Error::value(format!("{} exists (use --force to overwrite)", path.display())));
        }
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::value(format!("output directory {} does not exist", dir.display())));
    }
    Ok(target)
}

/// Temporary files of the [`Writer`]s still open in this process (see
/// [`remove_temporary_files`]).
static OPEN: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// Deletes the temporary files of every unfinished [`Writer`]: for a signal handler, before the
/// process exits (destructors do not run then).
pub fn remove_temporary_files() {
    if let Ok(open) = OPEN.lock() {
        for p in open.iter() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// One tensor of a file to write: name, dtype and shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Name (`state_dict` key).
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape.
    pub shape: Vec<usize>,
}

/// A safetensors file being written. The header is laid out and written first; each tensor's
/// bytes are then written at their offsets ([`Writer::write_at`]), in any order and from any
/// thread, into a temporary file in the destination's directory; [`Writer::finish`] checks that
/// every byte was written, flushes the file to disk and renames it into place. Dropped
/// unfinished (an error), the temporary file is removed, so no half-written checkpoint is ever
/// left behind, and an existing file at the destination stays as it was until the rename.
///
/// The file's whole size is checked against the free space and, on disk, reserved (`fallocate`)
/// when it is created, so a full disk fails at once (tmpfs is only checked: a write that finds it
/// full later fails with [`Error::NoSpace`], and the temporary file is removed). A process killed before it can clean up (SIGKILL)
/// leaves its temporary file, `.nninit-XXXXXX.tmp`, in the destination's directory: it is locked
/// while its writer lives, and the next `Writer` created in that directory removes it.
pub struct Writer {
    file: tempfile::NamedTempFile,
    target: PathBuf,
    names: Vec<String>,
    /// Each tensor's absolute `[begin, end)` in the file.
    ranges: Vec<(u64, u64)>,
    written: Vec<std::sync::atomic::AtomicU64>,
    lock: std::sync::Mutex<()>,
    _listed: Listed,
}

impl Writer {
    /// Lays out `layout` (in that order) with `metadata`, checks and reserves the space, and
    /// writes the header.
    ///
    /// # Errors
    /// As [`fn@write`]: the destination ([`check_destination`]), duplicate names, a shape too large,
    /// [`Error::NoSpace`] (the file system has less free space than the file needs), I/O errors.
    pub fn create(
        path: &Path,
        layout: &[Layout],
        metadata: &BTreeMap<String, String>,
        overwrite: Overwrite,
    ) -> Result<Writer> {
        let target = check_destination(path, overwrite)?;
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = layout.iter().find(|t| !seen.insert(t.name.as_str())) {
            return Err(Error::value(format!("tensor name `{}` appears twice", dup.name)));
        }
        // The header is laid out twice: counted first (its length comes first in the file), then
        // written in place.
        let mut count = Count::default();
        let sizes = write_header(layout, metadata, &mut count).map_err(|e| from_io(e, &target))?;
        let head_len = count.0.next_multiple_of(8);
        if head_len > MAX_HEADER {
            return Err(Error::value(format!(
                "the safetensors header of {} tensors would be {head_len} bytes, over the format's limit of {MAX_HEADER}",
                layout.len(),
            )));
        }
        let dir = target.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let total = 8 + head_len as u64 + sizes.iter().sum::<u64>();
        // A full disk is reported now, not minutes into the write.
        super::space::check_free_space(&target, &dir, total)?;
        let file = super::temporary::create(&dir)?;
        let listed = Listed::new(file.path());
        let mut start = 8 + head_len as u64;
        let ranges = sizes
            .iter()
            .map(|&s| {
                start += s;
                (start - s, start)
            })
            .collect();
        let w = Writer {
            file,
            target,
            names: layout.iter().map(|t| t.name.clone()).collect(),
            ranges,
            written: sizes.iter().map(|_| Default::default()).collect(),
            lock: std::sync::Mutex::new(()),
            _listed: listed,
        };
        super::space::size_for_writing(w.file.as_file(), &w.target, &dir, start)?;
        // The length, then the header in place, padded with spaces to a multiple of 8 bytes.
        w.pwrite(0, &(head_len as u64).to_le_bytes())?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, HeaderAt { writer: &w, offset: 8 });
        let padding = head_len - count.0;
        write_header(layout, metadata, &mut out)
            .and_then(|_| out.write_all(&b"       "[..padding]))
            .and_then(|_| out.flush())
            .map_err(|e| from_io(e, &w.target))?;
        let written = out.into_inner().map_err(|e| from_io(e.into_error(), &w.target))?.offset;
        if written != 8 + head_len as u64 {
            return Err(Error::value(format!("the header took {} bytes, not {head_len}", written - 8)));
        }
        Ok(w)
    }

    /// Total bytes of tensor data.
    pub fn data_bytes(&self) -> u64 {
        self.ranges.iter().map(|(a, b)| b - a).sum()
    }

    /// Writes `bytes` at byte `offset` of tensor `index` (in layout order).
    ///
    /// # Errors
    /// A range past the tensor's end; I/O errors.
    pub fn write_at(&self, index: usize, offset: u64, bytes: &[u8]) -> Result<()> {
        let (begin, end) = self.ranges[index];
        if begin + offset + bytes.len() as u64 > end {
            return Err(Error::value(format!(
                "tensor `{}`: write of {} bytes at {offset} is past its {} bytes",
                self.names[index],
                bytes.len(),
                end - begin
            )));
        }
        self.pwrite(begin + offset, bytes)?;
        self.written[index].fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn pwrite(&self, at: u64, bytes: &[u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        // One write at a time: the kernel serializes writes to a file anyway, and waiting here
        // sleeps instead of spinning on the inode's lock.
        let _one = self.lock.lock().map_err(|_| Error::value("a writer thread panicked"))?;
        self.file.as_file().write_all_at(bytes, at).map_err(|e| self.write_error(e))
    }

    /// A write error, said plainly when the disk is full.
    fn write_error(&self, e: std::io::Error) -> Error {
        if super::space::is_full(&e) {
            let dir = self.directory();
            let len = self.ranges.last().map_or(0, |r| r.1);
            return super::space::no_space(&self.target, &dir, len, super::space::available_bytes(&dir).unwrap_or(0));
        }
        Error::io(&self.target, e)
    }

    /// The destination's directory.
    fn directory(&self) -> PathBuf {
        match self.target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Checks that every tensor received exactly its size in bytes, flushes the file to disk,
    /// then renames it into place (mode 0644).
    ///
    /// # Errors
    /// A tensor short of or over its size (a bug in the caller); the output directory removed or
    /// replaced while the file was written; I/O errors.
    pub fn finish(self) -> Result<()> {
        for ((name, (a, b)), w) in self.names.iter().zip(&self.ranges).zip(&self.written) {
            let w = w.load(std::sync::atomic::Ordering::Relaxed);
            if w != b - a {
                return Err(Error::value(format!("tensor `{name}` got {w} bytes, expected {}", b - a)));
            }
        }
        {
            // Temporary files are created 0600; give the checkpoint ordinary file permissions.
            use std::os::unix::fs::PermissionsExt;
            let _ = self.file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644));
        }
        // On disk before it takes the destination's name: a crash after the rename never leaves
        // a checkpoint whose data had not reached the disk.
        self.file.as_file().sync_all().map_err(|e| self.write_error(e))?;
        let dir = self.directory();
        // The temporary file is gone from its path when the output directory was removed (or
        // renamed and replaced) while it was written.
        if !super::temporary::same_file(self.file.as_file(), self.file.path()) {
            return Err(Error::value(format!(
                "output directory {} was removed or replaced while {} was being written; nothing was written",
                dir.display(),
                self.target.display()
            )));
        }
        let target = self.target.clone();
        self.file.persist(&target).map_err(|e| Error::io(&target, e.error))?;
        // The rename itself on disk.
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// A temporary file listed in [`OPEN`] while this lives.
struct Listed(PathBuf);

impl Listed {
    fn new(path: &Path) -> Listed {
        if let Ok(mut open) = OPEN.lock() {
            open.push(path.to_path_buf());
        }
        Listed(path.to_path_buf())
    }
}

impl Drop for Listed {
    fn drop(&mut self) {
        if let Ok(mut open) = OPEN.lock() {
            open.retain(|p| *p != self.0);
        }
    }
}

/// Writes `entries` and `metadata` to `path` as safetensors, atomically (see [`Writer`]). The
/// header is written first, then each source writes its bytes in turn, so only what a source
/// holds is in memory. The output is deterministic: the same entries give the same bytes.
///
/// ```
/// use nninit::io::{load_bytes, write, Entry, Overwrite};
/// let path = std::env::temp_dir().join("nninit-doc-write.safetensors");
/// let bias = nninit::Tensor::zeros(&[3], nninit::DType::BF16);
/// let meta = [("format".to_string(), "pt".to_string())].into_iter().collect();
/// write(&path, &[Entry { name: "bias".into(), source: &bias }], &meta, Overwrite::Replace)?;
/// let (tensors, metadata) = load_bytes(&std::fs::read(&path).unwrap())?;
/// assert_eq!((tensors[0].1.shape(), metadata["format"].as_str()), (&[3usize][..], "pt"));
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), nninit::Error>(())
/// ```
///
/// # Errors
/// `path` exists and `overwrite` is [`Overwrite::Refuse`], or is a directory or not a regular file; its directory
/// does not exist; duplicate names; a shape too large; [`Error::NoSpace`] (checked before anything
/// is written); I/O errors (the temporary file is removed).
pub fn write(
    path: &Path,
    entries: &[Entry<'_>],
    metadata: &BTreeMap<String, String>,
    overwrite: Overwrite,
) -> Result<()> {
    write_with_progress(path, entries, metadata, overwrite, &|_, _| {})
}

/// [`fn@write`], calling `progress(bytes_written, total_bytes)` after each tensor.
pub fn write_with_progress(
    path: &Path,
    entries: &[Entry<'_>],
    metadata: &BTreeMap<String, String>,
    overwrite: Overwrite,
    progress: &dyn Fn(u64, u64),
) -> Result<()> {
    let layout: Vec<Layout> = entries
        .iter()
        .map(|e| Layout { name: e.name.clone(), dtype: e.source.dtype(), shape: e.source.shape().to_vec() })
        .collect();
    let w = Writer::create(path, &layout, metadata, overwrite)?;
    let total = w.data_bytes();
    let mut done = 0u64;
    for (index, e) in entries.iter().enumerate() {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, At { writer: &w, index, offset: 0 });
        e.source.write_to(&mut out).and_then(|_| out.flush()).map_err(|e| from_io(e, path))?;
        let at = out.into_inner().map_err(|e| from_io(e.into_error(), path))?;
        done += at.offset;
        progress(done, total);
    }
    w.finish()
}

/// Sequential writes of the header, from byte `offset` of a [`Writer`]'s file.
struct HeaderAt<'a> {
    writer: &'a Writer,
    offset: u64,
}

impl Write for HeaderAt<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.pwrite(self.offset, buf).map_err(std::io::Error::other)?;
        self.offset += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sequential writes into one tensor of a [`Writer`].
struct At<'a> {
    writer: &'a Writer,
    index: usize,
    offset: u64,
}

impl Write for At<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write_at(self.index, self.offset, buf).map_err(std::io::Error::other)?;
        self.offset += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_over_the_format_limit_are_refused_when_writing() {
        let dir = tempfile::tempdir().unwrap();
        let layout = [Layout { name: "a".repeat(MAX_HEADER), dtype: Dtype::F32, shape: vec![1] }];
        let err = Writer::create(&dir.path().join("x.safetensors"), &layout, &BTreeMap::new(), Overwrite::Refuse)
            .err()
            .unwrap();
        assert!(err.to_string().contains("over the format's limit"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    fn header_file(header: &str, data_len: usize) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend(std::iter::repeat_n(0u8, data_len));
        b
    }

    #[test]
    fn s3_malformed_headers_are_rejected_with_the_tensor_named() {
        let cases = [
            (
                r#"{"w":{"dtype":"F32","shape":[1000,1000],"data_offsets":[0,4]}}"#,
                4,
                "tensor `w`: F32 [1000, 1000] needs 4000000 bytes",
            ),
            (
                r#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#,
                8,
                "tensor `w`: data_offsets [8, 4] end before",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                12,
                "tensors `a` and `b` overlap",
            ),
            (
                r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                12,
                "hole of 4 bytes before tensor `b`",
            ),
            (r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, 20, "16 trailing bytes"),
            (r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, 8, "run past the data"),
        ];
        for (header, len, want) in cases {
            let err = load_bytes(&header_file(header, len)).unwrap_err().to_string();
            assert!(err.contains(want), "{header}: {err}");
        }
        assert!(load_bytes(&[1, 2, 3]).unwrap_err().to_string().contains("too short"));
        assert!(load_bytes(&header_file("{not json", 0)).unwrap_err().to_string().contains("not a JSON"));
    }
}
