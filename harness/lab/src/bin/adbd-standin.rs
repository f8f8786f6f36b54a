//! `adbd-standin`: a STAND-IN for Android's device-side `adbd`, for tests only. No real adbd exists for Linux, so
//! this speaks the adb transport protocol over TCP (what `adb connect HOST:PORT` talks to) and executes on this
//! host, inside a sandbox directory (the working directory of every command; paths are host paths):
//!
//! - transport: `CNXN` handshake, `OPEN`/`OKAY`/`WRTE`/`CLSE` streams with one `WRTE` in flight per direction;
//! - `shell,v2,…:CMD`: `sh -c CMD` with split stdout/stderr packets, stdin packets, and the exit code packet;
//!   `shell:CMD` / `exec:CMD` (v1: merged output, no exit code);
//! - `sync:`: `STAT`, `LIST`, `SEND` (`DATA`…`DONE` with mtime, temp-free like adbd: written in place), `RECV`, `QUIT`.
//!
//! Fault modes for tests: `--unauthorized` answers `CNXN` with `AUTH` tokens forever (adb shows "unauthorized");
//! `--offline` never answers `CNXN` (adb shows "offline").
//!
//! Phone-like mode (the lab's `lab-phone`, still a STAND-IN, not Android): `--chroot DIR` runs every shell command as
//! `chroot DIR /system/bin/sh -c CMD` in `/` with a clean Android-like environment (`PATH` with `/system/bin`,
//! `HOME=/`, `TMPDIR=/data/local/tmp`, `ANDROID_ROOT`, `ANDROID_DATA`), maps `sync:` paths under DIR (`..` cannot
//! leave it; symlinks are followed on the host, so the root should hold relative ones only), makes missing parent
//! directories on `SEND` as adbd does, and takes the banner's product names from DIR/system/build.prop.
//! `--shell-uid N` (with `--chroot`) runs the commands as uid:gid N:N (Android's `shell` is 2000) and gives pushed
//! files and the directories made for them to N. Whatever the root needs (an aarch64 `sh` under qemu-user, /proc,
//! /sys) is set up by whoever starts this (scripts/lab/start.sh, scripts/lab/phone/).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};

const A_CNXN: u32 = 0x4e58_4e43;
const A_AUTH: u32 = 0x4854_5541;
const A_OPEN: u32 = 0x4e45_504f;
const A_OKAY: u32 = 0x5941_4b4f;
const A_CLSE: u32 = 0x4553_4c43;
const A_WRTE: u32 = 0x4554_5257;
const A_VERSION: u32 = 0x0100_0001;
const MAX_PAYLOAD: u32 = 256 * 1024;
const SYNC_DATA_MAX: usize = 64 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Normal,
    Unauthorized,
    Offline,
}

struct Config {
    root: PathBuf,
    mode: Mode,
    serial: String,
    /// `--chroot DIR`: shell commands chrooted into DIR, `sync:` paths mapped under it.
    chroot: Option<PathBuf>,
    /// `--shell-uid N`: the uid (and gid) of chrooted shell commands and of pushed files.
    shell_uid: Option<u32>,
    /// The `CNXN` banner (`device::ro.product.name=…;ro.product.model=…;ro.product.device=…;features=…`).
    banner: String,
}

/// The environment of a chrooted shell, like `adb shell` on Android 14 (only /system/bin exists in the lab's root).
const ANDROID_PATH: &str = "/product/bin:/apex/com.android.runtime/bin:/apex/com.android.art/bin:/system_ext/bin:/system/bin:/system/xbin:/odm/bin:/vendor/bin:/vendor/xbin";
const CHROOT: &str = "/usr/sbin/chroot";

fn main() {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut config = Config {
        root: PathBuf::from("."),
        mode: Mode::Normal,
        serial: "standin".into(),
        chroot: None,
        shell_uid: None,
        banner: String::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().expect("--listen ADDR"),
            "--root" => config.root = PathBuf::from(args.next().expect("--root DIR")),
            "--name" => config.serial = args.next().expect("--name NAME"),
            "--unauthorized" => config.mode = Mode::Unauthorized,
            "--offline" => config.mode = Mode::Offline,
            "--chroot" => config.chroot = Some(PathBuf::from(args.next().expect("--chroot DIR"))),
            "--shell-uid" => config.shell_uid = Some(args.next().and_then(|n| n.parse().ok()).expect("--shell-uid N")),
            _ => {
                eprintln!(
                    "usage: adbd-standin --listen ADDR (--root DIR | --chroot DIR [--shell-uid N]) [--name NAME] [--unauthorized|--offline]"
                );
                std::process::exit(2);
            }
        }
    }
    if let Some(dir) = &config.chroot {
        let sh = dir.join("system/bin/sh");
        if std::fs::symlink_metadata(&sh).is_err() || !Path::new(CHROOT).exists() {
            eprintln!("adbd-standin: --chroot {}: needs {} and {CHROOT}", dir.display(), sh.display());
            std::process::exit(2);
        }
    } else if config.shell_uid.is_some() {
        eprintln!("adbd-standin: --shell-uid needs --chroot");
        std::process::exit(2);
    }
    // The banner's product names (what `adb devices -l` shows): from the chroot's /system/build.prop when it has
    // them, else names that say this is the stand-in.
    let props = config.chroot.as_ref().and_then(|dir| std::fs::read_to_string(dir.join("system/build.prop")).ok());
    let prop = |key: &str, default: String| {
        let value = props.as_deref().unwrap_or("").lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('='));
        value.map(str::to_owned).unwrap_or(default)
    };
    config.banner = format!(
        "device::ro.product.name={};ro.product.model={};ro.product.device={};features=shell_v2,cmd",
        prop("ro.product.name", "etbench_standin".into()),
        prop("ro.product.model", format!("adbd-STANDIN-{}", config.serial)),
        prop("ro.product.device", "standin".into()),
    );
    std::fs::create_dir_all(&config.root).expect("creating the sandbox directory");
    let listener = TcpListener::bind(&listen).unwrap_or_else(|e| panic!("binding {listen}: {e}"));
    eprintln!("adbd-standin: listening on {}", listener.local_addr().expect("bound"));
    let config = Arc::new(config);
    for conn in listener.incoming().flatten() {
        let config = Arc::clone(&config);
        std::thread::spawn(move || {
            let _ = serve(conn, &config);
        });
    }
}

/// One adb packet: the 24-byte header fields plus payload.
struct Packet {
    cmd: u32,
    arg0: u32,
    arg1: u32,
    data: Vec<u8>,
}

fn read_packet(r: &mut impl Read) -> std::io::Result<Packet> {
    let mut h = [0u8; 24];
    r.read_exact(&mut h)?;
    let word = |i: usize| u32::from_le_bytes(h[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let mut data = vec![0u8; word(3) as usize];
    r.read_exact(&mut data)?;
    Ok(Packet { cmd: word(0), arg0: word(1), arg1: word(2), data })
}

/// The writing half of a connection, shared by every stream.
#[derive(Clone)]
struct Wire(Arc<Mutex<TcpStream>>);

impl Wire {
    fn send(&self, cmd: u32, arg0: u32, arg1: u32, data: &[u8]) -> std::io::Result<()> {
        let checksum: u32 = data.iter().map(|&b| b as u32).fold(0, u32::wrapping_add);
        let mut buf = Vec::with_capacity(24 + data.len());
        for w in [cmd, arg0, arg1, data.len() as u32, checksum, cmd ^ 0xffff_ffff] {
            buf.extend_from_slice(&w.to_le_bytes());
        }
        buf.extend_from_slice(data);
        self.0.lock().expect("wire lock").write_all(&buf)
    }
}

/// Per-stream state the connection's reader updates: incoming data and the credit for our next `WRTE`.
struct StreamSlot {
    incoming: Sender<Vec<u8>>,
    credit: Arc<(Mutex<Option<bool>>, Condvar)>,
}

fn serve(conn: TcpStream, config: &Arc<Config>) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let wire = Wire(Arc::new(Mutex::new(conn.try_clone()?)));
    let mut reader = std::io::BufReader::with_capacity(1 << 20, conn);
    let mut streams: HashMap<u32, StreamSlot> = HashMap::new();
    let mut next_id = 1u32;
    let mut max_payload = MAX_PAYLOAD;
    loop {
        let p = read_packet(&mut reader)?;
        match p.cmd {
            A_CNXN => match config.mode {
                Mode::Offline => {}
                Mode::Unauthorized => wire.send(A_AUTH, 1, 0, &[7u8; 20])?,
                Mode::Normal => {
                    max_payload = p.arg1.clamp(4096, MAX_PAYLOAD);
                    wire.send(A_CNXN, A_VERSION, max_payload, config.banner.as_bytes())?;
                }
            },
            // Every signature is refused and a new token sent: the host ends up "unauthorized".
            A_AUTH if p.arg0 == 2 => wire.send(A_AUTH, 1, 0, &[7u8; 20])?,
            A_AUTH => {}
            A_OPEN if config.mode == Mode::Normal => {
                let local = next_id;
                next_id += 1;
                let service = String::from_utf8_lossy(&p.data).trim_end_matches('\0').to_owned();
                let (tx, rx) = channel();
                let credit = Arc::new((Mutex::new(Some(true)), Condvar::new()));
                streams.insert(local, StreamSlot { incoming: tx, credit: Arc::clone(&credit) });
                wire.send(A_OKAY, local, p.arg0, &[])?;
                let stream =
                    Stream { wire: wire.clone(), local, remote: p.arg0, rx, pending: Vec::new(), credit, max_payload };
                let config = Arc::clone(config);
                std::thread::spawn(move || run_service(stream, &service, &config));
            }
            A_WRTE => match streams.get(&p.arg1) {
                Some(slot) => {
                    let _ = slot.incoming.send(p.data);
                }
                None => wire.send(A_CLSE, 0, p.arg0, &[])?,
            },
            A_OKAY => {
                if let Some(slot) = streams.get(&p.arg1) {
                    let (lock, cv) = &*slot.credit;
                    if let Some(c) = lock.lock().expect("credit lock").as_mut() {
                        *c = true;
                    }
                    cv.notify_all();
                }
            }
            A_CLSE => {
                if let Some(slot) = streams.remove(&p.arg1) {
                    let (lock, cv) = &*slot.credit;
                    *lock.lock().expect("credit lock") = None;
                    cv.notify_all();
                }
            }
            _ => {}
        }
    }
}

/// A service's view of its stream: a byte stream in, chunked flow-controlled writes out.
struct Stream {
    wire: Wire,
    local: u32,
    remote: u32,
    rx: Receiver<Vec<u8>>,
    pending: Vec<u8>,
    /// `Some(true)`: we may send a `WRTE`; `Some(false)`: waiting for the peer's `OKAY`; `None`: closed.
    credit: Arc<(Mutex<Option<bool>>, Condvar)>,
    max_payload: u32,
}

impl Stream {
    /// Next chunk from the peer; acknowledged only when taken, so one `WRTE` is in flight and memory stays bounded.
    fn recv_chunk(&mut self) -> Option<Vec<u8>> {
        let data = self.rx.recv().ok()?;
        let _ = self.wire.send(A_OKAY, self.local, self.remote, &[]);
        Some(data)
    }

    fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.pending.len() < n {
            let chunk = self.recv_chunk()?;
            self.pending.extend_from_slice(&chunk);
        }
        Some(self.pending.drain(..n).collect())
    }

    fn write(&self, mut data: &[u8]) -> bool {
        while !data.is_empty() {
            let (lock, cv) = &*self.credit;
            let mut credit = lock.lock().expect("credit lock");
            while *credit == Some(false) {
                credit = cv.wait(credit).expect("credit lock");
            }
            if credit.is_none() {
                return false;
            }
            *credit = Some(false);
            drop(credit);
            let n = data.len().min(self.max_payload as usize);
            if self.wire.send(A_WRTE, self.local, self.remote, &data[..n]).is_err() {
                return false;
            }
            data = &data[n..];
        }
        true
    }

    fn close(&self) {
        let (lock, _) = &*self.credit;
        if lock.lock().expect("credit lock").take().is_some() {
            let _ = self.wire.send(A_CLSE, self.local, self.remote, &[]);
        }
    }
}

fn run_service(mut stream: Stream, service: &str, config: &Config) {
    if let Some(rest) = service.strip_prefix("shell") {
        let (opts, cmd) = rest.split_once(':').unwrap_or((rest, ""));
        if opts.split(',').any(|o| o == "v2") {
            shell_v2(&mut stream, cmd, config);
        } else {
            shell_v1(&stream, cmd, config, true);
        }
    } else if let Some(cmd) = service.strip_prefix("exec:") {
        shell_v1(&stream, cmd, config, false);
    } else if service == "sync:" {
        sync(&mut stream, config);
    }
    stream.close();
}

fn command(cmd: &str, config: &Config) -> Command {
    let cmd = if cmd.trim().is_empty() { "exit 0" } else { cmd };
    if let Some(root) = &config.chroot {
        let mut c = Command::new(CHROOT);
        if let Some(uid) = config.shell_uid {
            c.arg(format!("--userspec={uid}:{uid}"));
        }
        c.arg(root).args(["/system/bin/sh", "-c", cmd]).current_dir(root).env_clear();
        c.envs([
            ("PATH", ANDROID_PATH),
            ("HOME", "/"),
            ("TMPDIR", "/data/local/tmp"),
            ("ANDROID_ROOT", "/system"),
            ("ANDROID_DATA", "/data"),
            ("SHELL", "/system/bin/sh"),
            ("ANDROID_SERIAL_STANDIN", config.serial.as_str()),
        ]);
        if config.shell_uid == Some(2000) {
            c.env("USER", "shell").env("LOGNAME", "shell");
        }
        return c;
    }
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(cmd).current_dir(&config.root);
    let bin = config.root.join("bin");
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{}:{path}", bin.display())).env("ANDROID_SERIAL_STANDIN", &config.serial);
    c
}

fn shell_v1(stream: &Stream, cmd: &str, config: &Config, merge: bool) {
    let out = command(cmd, config).stdin(Stdio::null()).output();
    if let Ok(out) = out {
        stream.write(&out.stdout);
        if merge {
            stream.write(&out.stderr);
        }
    }
}

fn v2_packet(id: u8, data: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(5 + data.len());
    p.push(id);
    p.extend_from_slice(&(data.len() as u32).to_le_bytes());
    p.extend_from_slice(data);
    p
}

fn shell_v2(stream: &mut Stream, cmd: &str, config: &Config) {
    let spawned = command(cmd, config).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            stream.write(&v2_packet(2, format!("adbd-standin: {e}\n").as_bytes()));
            stream.write(&v2_packet(3, &[127]));
            return;
        }
    };
    // Packets from the two pipes go out through one writer thread, in order, then the exit packet.
    let (tx, rx) = channel::<Vec<u8>>();
    let pump = |mut pipe: Box<dyn Read + Send>, id: u8, tx: Sender<Vec<u8>>| {
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 || tx.send(v2_packet(id, &buf[..n])).is_err() {
                    break;
                }
            }
        })
    };
    let out = pump(Box::new(child.stdout.take().expect("piped")), 1, tx.clone());
    let err = pump(Box::new(child.stderr.take().expect("piped")), 2, tx);
    let mut stdin = child.stdin.take();
    let credit = Arc::clone(&stream.credit);
    let writer = Stream {
        wire: stream.wire.clone(),
        local: stream.local,
        remote: stream.remote,
        rx: channel().1,
        pending: Vec::new(),
        credit,
        max_payload: stream.max_payload,
    };
    let sender = std::thread::spawn(move || {
        for packet in rx {
            writer.write(&packet);
        }
        writer
    });
    // Stdin packets from the host go to the command until it closes stdin (id 4); output is pumped meanwhile.
    while !out.is_finished() || !err.is_finished() {
        match stream.rx.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(chunk) => {
                let _ = stream.wire.send(A_OKAY, stream.local, stream.remote, &[]);
                stream.pending.extend_from_slice(&chunk);
                while stream.pending.len() >= 5 {
                    let len = u32::from_le_bytes(stream.pending[1..5].try_into().expect("4 bytes")) as usize;
                    if stream.pending.len() < 5 + len {
                        break;
                    }
                    let packet: Vec<u8> = stream.pending.drain(..5 + len).collect();
                    match packet[0] {
                        0 => {
                            if let Some(s) = stdin.as_mut() {
                                let _ = s.write_all(&packet[5..]);
                            }
                        }
                        4 => stdin = None,
                        _ => {}
                    }
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                // The host went away: stop the command.
                let _ = child.kill();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
    drop(stdin);
    let _ = (out.join(), err.join());
    let status = child.wait();
    let writer = sender.join().expect("sender");
    use std::os::unix::process::ExitStatusExt;
    let code = status.map(|s| s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))).unwrap_or(127);
    writer.write(&v2_packet(3, &[code as u8]));
}

fn le(b: &[u8]) -> u32 {
    u32::from_le_bytes(b[..4].try_into().expect("4 bytes"))
}

fn sync_reply(id: &[u8; 4], words: &[u32]) -> Vec<u8> {
    let mut v = id.to_vec();
    for w in words {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

fn fail(stream: &Stream, message: &str) {
    let mut v = b"FAIL".to_vec();
    v.extend_from_slice(&(message.len() as u32).to_le_bytes());
    v.extend_from_slice(message.as_bytes());
    stream.write(&v);
}

fn stat_words(meta: &std::fs::Metadata) -> [u32; 3] {
    use std::os::unix::fs::MetadataExt;
    [meta.mode(), meta.size() as u32, meta.mtime() as u32]
}

/// The host path of a device path: itself, or under `--chroot DIR` with `..` kept inside DIR.
fn host_path(config: &Config, path: &str) -> PathBuf {
    let Some(root) = &config.chroot else { return PathBuf::from(path) };
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for part in Path::new(path).components() {
        match part {
            std::path::Component::Normal(p) => parts.push(p),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    let host = parts.iter().fold(root.clone(), |p, part| p.join(part));
    // A trailing slash stays: `SEND dir/` fails as on a device instead of writing a file called `dir`.
    if path.ends_with('/') {
        host.join("")
    } else {
        host
    }
}

fn sync(stream: &mut Stream, config: &Config) {
    loop {
        let Some(header) = stream.read_exact(8) else { return };
        let id: [u8; 4] = header[..4].try_into().expect("4 bytes");
        let Some(arg) = stream.read_exact(le(&header[4..]) as usize) else { return };
        let arg = String::from_utf8_lossy(&arg).into_owned();
        match &id {
            b"STAT" => {
                let words = std::fs::metadata(host_path(config, &arg)).map(|m| stat_words(&m)).unwrap_or([0, 0, 0]);
                stream.write(&sync_reply(b"STAT", &words));
            }
            b"LIST" => {
                for entry in std::fs::read_dir(host_path(config, &arg)).into_iter().flatten().flatten() {
                    let Ok(meta) = entry.metadata() else { continue };
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let [mode, size, mtime] = stat_words(&meta);
                    let mut v = sync_reply(b"DENT", &[mode, size, mtime, name.len() as u32]);
                    v.extend_from_slice(name.as_bytes());
                    stream.write(&v);
                }
                stream.write(&sync_reply(b"DONE", &[0, 0, 0, 0]));
            }
            b"SEND" => {
                if !receive_file(stream, &arg, config) {
                    return;
                }
            }
            b"RECV" => send_file(stream, &host_path(config, &arg), &arg),
            _ => return, // QUIT or unknown
        }
    }
}

/// `SEND path,mode` then `DATA` chunks and `DONE mtime`. Errors still drain the data so the stream stays in sync.
fn receive_file(stream: &mut Stream, arg: &str, config: &Config) -> bool {
    let (path, mode) = arg.rsplit_once(',').unwrap_or((arg, "420"));
    let mode: u32 = mode.parse().unwrap_or(0o644);
    let host = host_path(config, path);
    if config.chroot.is_some() {
        // adbd makes the missing parent directories (its `secure_mkdirs`), owned by the shell user.
        if let Some(parent) = host.parent() {
            make_dirs(parent, config);
        }
    }
    let mut file = std::fs::File::create(&host).map_err(|e| format!("{path}: {e}"));
    if let (Ok(_), Some(uid)) = (&file, config.shell_uid) {
        let _ = std::os::unix::fs::chown(&host, Some(uid), Some(uid));
    }
    loop {
        let Some(header) = stream.read_exact(8) else { return false };
        let n = le(&header[4..]);
        match &header[..4] {
            b"DATA" => {
                let Some(data) = stream.read_exact(n as usize) else { return false };
                if let Ok(f) = file.as_mut() {
                    if let Err(e) = f.write_all(&data) {
                        file = Err(format!("{path}: {e}"));
                        let _ = std::fs::remove_file(&host);
                    }
                }
            }
            b"DONE" => {
                match file {
                    Ok(f) => {
                        use std::os::unix::fs::PermissionsExt;
                        let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(n as u64);
                        let _ = f.set_modified(mtime);
                        let _ = f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777));
                        stream.write(&sync_reply(b"OKAY", &[0]));
                    }
                    Err(e) => fail(stream, &e),
                }
                return true;
            }
            _ => return false,
        }
    }
}

/// `mkdir -p` of a host directory inside the chroot, new directories given to the shell user.
fn make_dirs(dir: &Path, config: &Config) {
    if dir.exists() {
        return;
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent, config);
    }
    if std::fs::create_dir(dir).is_ok() {
        if let Some(uid) = config.shell_uid {
            let _ = std::os::unix::fs::chown(dir, Some(uid), Some(uid));
        }
    }
}

/// `RECV`: the file at `path` (a host path); errors name `shown` (the device path).
fn send_file(stream: &Stream, path: &Path, shown: &str) {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return fail(stream, &format!("{shown}: {e}")),
    };
    let mut buf = vec![0u8; SYNC_DATA_MAX];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let mut v = sync_reply(b"DATA", &[n as u32]);
                v.extend_from_slice(&buf[..n]);
                if !stream.write(&v) {
                    return;
                }
            }
            Err(e) => return fail(stream, &format!("{shown}: {e}")),
        }
    }
    stream.write(&sync_reply(b"DONE", &[0]));
}
