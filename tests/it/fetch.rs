//! `xcluster fetch` against a real HTTP server on 127.0.0.1, started by each test: full downloads,
//! an interrupted download resumed with a range request, a stalled one given up and resumed,
//! checksums (manifest, recorded, wrong), 404, a refused connection, mirrors, and the command line.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xcluster::fetch::{Check, Fetcher, Outcome, CHECKSUMS_FILE};
use xcluster::manifest::{Dataset, Manifest};

/// How the server answers one path.
#[derive(Clone)]
struct Route {
    body: Vec<u8>,
    /// The first request gets the full Content-Length but only this many bytes, then the
    /// connection is closed (a dropped download).
    cut_first_at: Option<usize>,
    /// Answer range requests with 206 (else ignore them and send 200 with everything).
    ranges: bool,
    /// The first request gets the full Content-Length but only this many bytes, then nothing for
    /// [`STALL`] with the connection open (a server that hangs mid-transfer), then the close.
    stall_first_at: Option<usize>,
}

/// How long a stalling route holds its connection open without sending: far past the 1 s stall
/// limit the tests set, yet bounded so that no server thread outlives its test for long.
const STALL: Duration = Duration::from_secs(5);

/// Each request's path and Range header, in the order they arrived.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A minimal HTTP/1.1 file server (one request per connection) that logs each request's path and
/// Range header.
struct Server {
    port: u16,
    routes: Arc<Mutex<HashMap<String, Route>>>,
    log: RequestLog,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Route>>> = Arc::default();
        let log: RequestLog = Arc::default();
        let (r, l) = (routes.clone(), log.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, l) = (r.clone(), l.clone());
                std::thread::spawn(move || serve(stream, &r, &l));
            }
        });
        Server { port, routes, log }
    }

    fn route(&self, path: &str, route: Route) {
        self.routes.lock().unwrap().insert(path.to_string(), route);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<(String, Option<String>)> {
        self.log.lock().unwrap().clone()
    }
}

fn serve(mut stream: TcpStream, routes: &Mutex<HashMap<String, Route>>, log: &Mutex<Vec<(String, Option<String>)>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
        }
    }
    log.lock().unwrap().push((path.clone(), range.clone()));
    let route = routes.lock().unwrap().get(&path).cloned();
    let Some(route) = route else {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found");
        return;
    };
    let len = route.body.len();
    let start = match (&range, route.ranges) {
        (Some(r), true) => r.trim_start_matches("bytes=").trim_end_matches('-').parse::<usize>().unwrap_or(0),
        _ => 0,
    };
    let head = if start > 0 {
        format!(
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{}/{len}\r\nConnection: close\r\n\r\n",
            len - start,
            len - 1
        )
    } else {
        format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n")
    };
    let _ = stream.write_all(head.as_bytes());
    let mut end = len;
    if let Some(cut) = route.cut_first_at.or(route.stall_first_at) {
        // Only the first request is cut or stalled: later ones (the resume) get everything.
        let mut routes = routes.lock().unwrap();
        if let Some(r) = routes.get_mut(&path) {
            r.cut_first_at = None;
            r.stall_first_at = None;
        }
        end = cut;
    }
    let _ = stream.write_all(&route.body[start..end]);
    let _ = stream.flush();
    if route.stall_first_at.is_some() {
        std::thread::sleep(STALL);
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// 3 MB of deterministic bytes (more than the 1 MiB copy chunk).
fn payload(seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// SHA-256 by the system's `sha256sum`, an implementation independent of ours.
fn sha256sum(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x");
    std::fs::write(&f, bytes).unwrap();
    let out = std::process::Command::new("sha256sum").arg(&f).output().expect("sha256sum (coreutils)");
    String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_string()
}

fn dataset(name: &str, urls: &[String], size: Option<u64>, sha256: Option<&str>) -> Dataset {
    let size = size.map(|s| format!("size = {s}\n")).unwrap_or_default();
    let sha = sha256.map(|s| format!("sha256 = \"{s}\"\n")).unwrap_or_default();
    let urls: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    let toml = format!(
        "[[dataset]]\nname = \"{name}\"\nfile = \"{name}.fits\"\nurls = [{}]\n{size}{sha}param = \"catalog_path\"\n\
         kind = \"catalog\"\ncatalog = \"pgcc\"\ndescription = \"test\"\n",
        urls.join(", ")
    );
    Manifest::from_toml(&toml, "test manifest").unwrap().datasets.remove(0)
}

fn fetcher() -> Fetcher {
    Fetcher::new().progress(false)
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_full_download_is_verified_against_the_manifest_and_not_repeated() {
    let server = Server::start();
    let body = payload(1);
    server.route("/a.fits", Route { body: body.clone(), cut_first_at: None, ranges: true, stall_first_at: None });
    let sum = sha256sum(&body);
    let d = dataset("a", &[server.url("/a.fits")], Some(body.len() as u64), Some(&sum));
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!((f.outcome, f.check, f.size), (Outcome::Downloaded, Check::Manifest, 3_000_000));
    assert_eq!(f.sha256, sum);
    assert_eq!(std::fs::read(dir.path().join("a.fits")).unwrap(), body);
    assert_eq!(files_in(dir.path()), ["a.fits"], "no .part, no checksum record when the manifest has one");
    // A second call finds the file, verifies it, and makes no request.
    let again = fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!(again.outcome, Outcome::Present);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn an_interrupted_download_keeps_its_bytes_and_resumes_with_a_range_request() {
    let server = Server::start();
    let body = payload(2);
    let cut = 1_234_567;
    server.route("/b.fits", Route { body: body.clone(), cut_first_at: Some(cut), ranges: true, stall_first_at: None });
    let d = dataset("b", &[server.url("/b.fits")], None, Some(&sha256sum(&body)));
    let dir = tempfile::tempdir().unwrap();
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains("fetch b:") && err.contains("resumes"), "{err}");
    assert!(!dir.path().join("b.fits").exists(), "nothing under the final name");
    assert_eq!(std::fs::read(dir.path().join("b.fits.part")).unwrap(), &body[..cut]);
    let f = fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!(f.outcome, Outcome::Resumed(cut as u64));
    assert_eq!(std::fs::read(dir.path().join("b.fits")).unwrap(), body);
    assert_eq!(files_in(dir.path()), ["b.fits"]);
    let requests = server.requests();
    assert_eq!(requests[0].1, None);
    assert_eq!(requests[1].1.as_deref(), Some(format!("bytes={cut}-").as_str()));
}

#[test]
fn a_stalled_transfer_gives_up_after_the_stall_limit_and_the_next_fetch_resumes() {
    let server = Server::start();
    let body = payload(10);
    let cut = 1_500_000;
    server.route("/s.fits", Route { body: body.clone(), cut_first_at: None, ranges: true, stall_first_at: Some(cut) });
    let sum = sha256sum(&body);
    let d = dataset("s", &[server.url("/s.fits")], Some(body.len() as u64), Some(&sum));
    let dir = tempfile::tempdir().unwrap();
    let part = dir.path().join("s.fits.part");
    let started = Instant::now();
    let err = fetcher().stall_timeout(Duration::from_secs(1)).fetch(&d, dir.path()).unwrap_err().to_string();
    let waited = started.elapsed();
    // Given up by the 1 s stall limit, not by the server closing the connection after 5 s.
    assert!(waited >= Duration::from_secs(1) && waited < STALL, "gave up after {waited:?}: {err}");
    let stalled = format!("{}: nothing received for 1s: the server stalled after {cut} bytes", server.url("/s.fits"));
    assert!(err.starts_with("fetch s: ") && err.contains(&stalled), "{err}");
    let kept = format!("the {cut} bytes received are kept in {} and the next", part.display());
    assert!(err.contains(&kept) && err.contains("resumes from there"), "{err}");
    assert_eq!(std::fs::read(&part).unwrap(), &body[..cut], "the .part keeps exactly what arrived");
    assert!(!dir.path().join("s.fits").exists(), "nothing under the final name");
    // The server is healthy again: the default fetcher resumes with a range request.
    let f = fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!((f.outcome, f.check), (Outcome::Resumed(cut as u64), Check::Manifest));
    assert_eq!(f.sha256, sum);
    assert_eq!(std::fs::read(dir.path().join("s.fits")).unwrap(), body);
    assert_eq!(files_in(dir.path()), ["s.fits"]);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].1.as_deref(), Some(format!("bytes={cut}-").as_str()));
}

#[test]
fn a_server_that_ignores_ranges_makes_the_download_start_over() {
    let server = Server::start();
    let body = payload(3);
    server.route(
        "/c.fits",
        Route { body: body.clone(), cut_first_at: Some(777_777), ranges: false, stall_first_at: None },
    );
    let d = dataset("c", &[server.url("/c.fits")], Some(body.len() as u64), None);
    let dir = tempfile::tempdir().unwrap();
    assert!(fetcher().fetch(&d, dir.path()).is_err());
    let f = fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!(f.outcome, Outcome::Downloaded);
    assert_eq!(std::fs::read(dir.path().join("c.fits")).unwrap(), body);
}

#[test]
fn a_wrong_checksum_is_rejected_and_the_file_kept_out_of_place() {
    let server = Server::start();
    let body = payload(4);
    server.route("/d.fits", Route { body: body.clone(), cut_first_at: None, ranges: true, stall_first_at: None });
    let wrong = sha256sum(b"another file");
    let d = dataset("d", &[server.url("/d.fits")], None, Some(&wrong));
    let dir = tempfile::tempdir().unwrap();
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains(&wrong) && err.contains(&sha256sum(&body)), "names both sums: {err}");
    assert!(err.contains("d.fits.rejected"), "{err}");
    assert_eq!(files_in(dir.path()), ["d.fits.rejected"]);
    assert_eq!(std::fs::read(dir.path().join("d.fits.rejected")).unwrap(), body);
}

#[test]
fn an_unknown_checksum_is_recorded_on_first_download_and_enforced_afterwards() {
    let server = Server::start();
    let body = payload(5);
    server.route("/e.fits", Route { body: body.clone(), cut_first_at: None, ranges: true, stall_first_at: None });
    let d = dataset("e", &[server.url("/e.fits")], None, None);
    let dir = tempfile::tempdir().unwrap();
    let f = fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!(f.check, Check::NewlyRecorded);
    let record = std::fs::read_to_string(dir.path().join(CHECKSUMS_FILE)).unwrap();
    assert!(record.contains(&sha256sum(&body)) && record.contains("size = 3000000"), "{record}");
    assert_eq!(fetcher().fetch(&d, dir.path()).unwrap().check, Check::Recorded);
    // The file is deleted and the server now serves different bytes: the record catches it.
    std::fs::remove_file(dir.path().join("e.fits")).unwrap();
    let mut changed = body.clone();
    changed[1000] ^= 1;
    server.route("/e.fits", Route { body: changed, cut_first_at: None, ranges: true, stall_first_at: None });
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains("recorded in xcluster-checksums.toml"), "{err}");
    assert!(!dir.path().join("e.fits").exists() && dir.path().join("e.fits.rejected").exists());
}

#[test]
fn a_missing_file_is_reported_as_404_and_a_mirror_is_tried_next() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dataset("f", &[server.url("/gone.fits")], None, None);
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains("/gone.fits") && err.contains("HTTP 404"), "{err}");
    assert!(!err.contains("offline"), "a 404 is not an offline machine: {err}");
    assert!(!dir.path().join("f.fits").exists());
    let body = payload(6);
    server
        .route("/mirror/f.fits", Route { body: body.clone(), cut_first_at: None, ranges: true, stall_first_at: None });
    let d = dataset("f", &[server.url("/gone.fits"), server.url("/mirror/f.fits")], None, None);
    fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!(std::fs::read(dir.path().join("f.fits")).unwrap(), body);
}

#[test]
fn a_refused_connection_says_what_to_do_offline() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let d = dataset("g", &[format!("http://127.0.0.1:{port}/g.fits")], None, None);
    let dir = tempfile::tempdir().unwrap();
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains("offline") && err.contains("by hand") && err.contains("--to"), "{err}");
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[test]
fn a_host_that_does_not_resolve_is_reported_as_offline() {
    // `.invalid` never resolves (RFC 2606), with or without a network.
    let d = dataset("k", &["http://xcluster-test.invalid/k.fits".to_string()], None, None);
    let dir = tempfile::tempdir().unwrap();
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains("host not found") && err.contains("offline"), "{err}");
}

#[test]
fn a_file_being_downloaded_by_another_fetch_is_left_alone() {
    let server = Server::start();
    server.route("/l.fits", Route { body: payload(9), cut_first_at: None, ranges: true, stall_first_at: None });
    let d = dataset("l", &[server.url("/l.fits")], None, None);
    let dir = tempfile::tempdir().unwrap();
    let other = std::fs::File::create(dir.path().join("l.fits.part")).unwrap();
    other.lock().unwrap();
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains("another `xcluster fetch` is downloading"), "{err}");
    assert!(server.requests().is_empty());
    drop(other);
    fetcher().fetch(&d, dir.path()).unwrap();
    assert_eq!(std::fs::read(dir.path().join("l.fits")).unwrap(), payload(9));
}

#[test]
fn a_size_that_differs_from_the_manifest_is_refused_before_downloading() {
    let server = Server::start();
    server.route("/h.fits", Route { body: payload(7), cut_first_at: None, ranges: true, stall_first_at: None });
    let d = dataset("h", &[server.url("/h.fits")], Some(42), None);
    let dir = tempfile::tempdir().unwrap();
    let err = fetcher().fetch(&d, dir.path()).unwrap_err().to_string();
    assert!(err.contains("offers 3000000 bytes but the manifest expects 42"), "{err}");
    assert!(!dir.path().join("h.fits").exists());
}

#[test]
fn the_command_line_fetches_by_name_into_a_folder_and_fails_clearly() {
    let server = Server::start();
    let body = payload(8);
    server.route("/i.fits", Route { body: body.clone(), cut_first_at: None, ranges: true, stall_first_at: None });
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[[dataset]]\nname = \"i\"\nfile = \"i.fits\"\nurls = [\"{}\"]\nparam = \"catalog_path\"\nkind = \"catalog\"\n\
         catalog = \"pgcc\"\ndescription = \"test i\"\n\n\
         [[dataset]]\nname = \"j\"\nfile = \"j.fits\"\nurls = [\"{}\"]\nparam = \"catalog_path\"\nkind = \"catalog\"\n\
         catalog = \"pccs2\"\nband = \"100GHz\"\ndescription = \"test j\"\n",
        server.url("/i.fits"),
        server.url("/nothing-here.fits")
    );
    std::fs::write(dir.path().join("m.toml"), manifest).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_xcluster")).args(args).current_dir(dir.path()).output();
        let o = o.unwrap();
        (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    };
    let (ok, out) = run(&["fetch", "--manifest", "m.toml", "--to", "dl", "i"]);
    assert!(ok, "{out}");
    assert!(out.contains("downloaded") && out.contains("recorded in xcluster-checksums.toml"), "{out}");
    assert_eq!(std::fs::read(dir.path().join("dl/i.fits")).unwrap(), body);
    let (ok, out) = run(&["fetch", "--manifest", "m.toml", "--to", "dl", "i"]);
    assert!(ok && out.contains("already there"), "{out}");
    let (ok, out) = run(&["fetch", "--manifest", "m.toml", "--to", "dl", "j"]);
    assert!(!ok && out.contains("HTTP 404") && out.contains("1 of the datasets failed: j"), "{out}");
    let (ok, out) = run(&["fetch", "--manifest", "m.toml", "nope"]);
    assert!(!ok && out.contains("\"nope\"") && out.contains("known: i, j"), "{out}");
    // --list shows every dataset and where it would go (the params file's catalog_path by default).
    let (ok, out) = run(&["fetch", "--list"]);
    assert!(ok, "{out}");
    for name in ["hfi-100", "hfi-857", "milca-ymap", "psz2-union", "mcxc", "redmapper", "pccs2-545", "pgcc"] {
        assert!(out.lines().any(|l| l.starts_with(name)), "{name} listed: {out}");
    }
    assert!(out.contains("data/planck/HFI_SkyMap_353-psb-field-IQU_2048_R3.00_full.fits"), "{out}");
}

#[test]
fn the_builtin_manifest_lists_every_input_with_its_layout() {
    use xcluster::catalog::RealCatalog;
    use xcluster::manifest::Kind;
    use xcluster::sky::Band;
    let m = Manifest::builtin().unwrap();
    for band in Band::ALL {
        let d = m.map(band).unwrap();
        assert_eq!(d.nside, Some(2048), "{band}");
        assert_eq!(d.unit.as_deref(), Some(band.unit()), "{band}");
        assert!(d.urls[0].starts_with("http://pla.esac.esa.int/pla/aio/product-action?MAP.MAP_ID="), "{band}");
    }
    assert_eq!(m.map(Band::F353).unwrap().file, "HFI_SkyMap_353-psb-field-IQU_2048_R3.00_full.fits");
    assert_eq!(m.map(Band::F545).unwrap().file, "HFI_SkyMap_545-field-Int_2048_R3.00_full.fits");
    assert_eq!(m.map(Band::YMap).unwrap().column.as_deref(), Some("FULL"));
    for reader in [RealCatalog::Psz2Union, RealCatalog::Mcxc, RealCatalog::Redmapper, RealCatalog::Pgcc] {
        assert_eq!(m.catalog(reader, None).unwrap().kind, Kind::Catalog);
    }
    for band in &Band::ALL[..6] {
        assert!(m.catalog(RealCatalog::Pccs2, Some(*band)).unwrap().file.starts_with("COM_PCCS_"));
    }
    // No names: the maps of the default params' bands (the network's five and the matched filter's
    // six HFI bands: all seven), then every catalog.
    let chosen: Vec<&str> = m.select(&[], &Default::default()).unwrap().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(&chosen[..7], ["hfi-100", "hfi-143", "hfi-217", "hfi-353", "hfi-545", "hfi-857", "milca-ymap"]);
    assert_eq!(chosen.len(), 7 + 10);
    let err = Manifest::from_toml("[[dataset]]\nname = \"x\"\nfile = \"a/b\"\nurls = []\n", "bad.toml").unwrap_err();
    assert!(err.to_string().starts_with("bad.toml"), "{err}");
}
