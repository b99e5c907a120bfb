use super::*;

const GOOD: &str = r#"
seed = 7
duration = "30s"
[[path]]
rate = "100Mbit"
delay = "10ms"
queue = "250KB"
loss = 0.01
[[path.event]]
at = "5s"
action = "down"
[[path.event]]
at = "2s"
action = "set"
rate = "50Mbit"
[[path]]
rate = "1Gbit"
delay = "1ms"
middlebox = "nat"
[[flow]]
kind = "mptcp"
paths = [1, 0]
bytes = "10MB"
cc = "cubic"
scheduler = "min-rtt"
path_manager = "fullmesh"
checksum = true
[[flow]]
kind = "tcp"
paths = [0]
bytes = 1000
start = "1.5s"
direction = "download"
"#;

fn err(text: &str) -> String {
    match Scenario::from_toml(text, "s.toml") {
        Ok(s) => panic!("accepted: {s:?}"),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains('\n'), "multi-line error: {msg}");
            assert!(msg.starts_with("s.toml: "), "no file name: {msg}");
            msg
        }
    }
}

fn with_path(path_extra: &str) -> String {
    format!("[[path]]\nrate = \"10Mbit\"\ndelay = \"1ms\"\n{path_extra}\n[[flow]]\npaths = [0]\nbytes = 1\n")
}

fn with_flow(flow_extra: &str) -> String {
    format!("[[path]]\nrate = \"10Mbit\"\ndelay = \"1ms\"\n[[flow]]\n{flow_extra}\n")
}

#[test]
fn parses_good_scenario() {
    let s = Scenario::from_toml(GOOD, "good.toml").unwrap();
    assert_eq!(s.seed, 7);
    assert_eq!(s.duration, Duration::from_secs(30));
    assert_eq!(s.paths.len(), 2);
    assert_eq!(s.paths[0].rate, 100_000_000);
    assert_eq!(s.paths[0].queue, Some(250_000));
    assert_eq!(s.paths[0].loss, 0.01);
    // Events are sorted by time.
    assert_eq!(s.paths[0].events[0].at, Duration::from_secs(2));
    assert!(matches!(
        s.paths[0].events[0].action,
        PathAction::Set(LinkChange {
            rate: Some(50_000_000),
            ..
        })
    ));
    assert_eq!(s.paths[0].events[1].action, PathAction::Down);
    assert_eq!(s.paths[1].middlebox, Some(MiddleboxKind::Nat));
    assert_eq!(s.paths[1].queue, None);
    let f = &s.flows[0];
    assert_eq!(f.kind, FlowKind::Mptcp);
    assert_eq!(f.paths, vec![1, 0]);
    assert_eq!(f.bytes, 10_000_000);
    assert_eq!(f.cc, CcAlgorithm::Cubic);
    assert!(f.checksum);
    assert_eq!(f.direction, Direction::Upload);
    let g = &s.flows[1];
    assert_eq!(g.kind, FlowKind::Tcp);
    assert_eq!(g.bytes, 1000);
    assert_eq!(g.start, Duration::from_millis(1500));
    assert_eq!(g.direction, Direction::Download);
    assert_eq!(g.cc, CcAlgorithm::Reno);
    assert_eq!(g.scheduler, SchedulerKind::default());
}

#[test]
fn defaults() {
    let s = Scenario::from_toml(&with_path(""), "x").unwrap();
    assert_eq!(s.seed, 1);
    assert_eq!(s.duration, Duration::from_secs(60));
    assert_eq!(s.flows[0].kind, FlowKind::Mptcp);
    assert_eq!(s.paths[0].loss, 0.0);
}

#[test]
fn default_queue_is_bdp() {
    // 100 Mbit/s * 2 * 20 ms = 500 KB.
    assert_eq!(
        default_queue(100_000_000, Duration::from_millis(20)),
        500_000
    );
    // Tiny BDP: at least two full packets.
    assert_eq!(default_queue(1_000_000, Duration::from_micros(10)), 3000);
}

#[test]
fn bad_rate() {
    let m = err(&with_path("").replace("\"10Mbit\"", "\"fast\""));
    assert_eq!(
        m,
        "s.toml: path[0].rate: expected a rate like \"100Mbit\", got \"fast\""
    );
}

#[test]
fn rate_wrong_type() {
    let m = err(&with_path("").replace("\"10Mbit\"", "10"));
    assert!(
        m.contains("path[0].rate: expected a rate like \"100Mbit\", got 10"),
        "{m}"
    );
}

#[test]
fn bad_delay() {
    let m = err(&with_path("").replace("\"1ms\"", "\"later\""));
    assert!(m.contains("path[0].delay: expected a duration"), "{m}");
}

#[test]
fn bad_queue() {
    let m = err(&with_path("queue = \"lots\""));
    assert!(m.contains("path[0].queue: expected a size"), "{m}");
    let m = err(&with_path("queue = -5"));
    assert!(m.contains("path[0].queue"), "{m}");
}

#[test]
fn bad_probability() {
    let m = err(&with_path("loss = 1.5"));
    assert!(
        m.contains("path[0].loss: expected a probability between 0.0 and 1.0, got 1.5"),
        "{m}"
    );
    let m = err(&with_path("reorder = \"some\""));
    assert!(m.contains("path[0].reorder"), "{m}");
    let m = err(&with_path("duplicate = -0.1"));
    assert!(m.contains("path[0].duplicate"), "{m}");
}

#[test]
fn bad_middlebox() {
    let m = err(&with_path("middlebox = \"firewall\""));
    assert!(
        m.contains("path[0].middlebox: expected one of \"strip-mptcp\""),
        "{m}"
    );
}

#[test]
fn unknown_keys() {
    let m = err(&format!("speed = 3\n{}", with_path("")));
    assert!(
        m.starts_with("s.toml: speed: unknown key (expected one of: seed"),
        "{m}"
    );
    let m = err(&with_path("rte = \"1Mbit\""));
    assert!(m.starts_with("s.toml: path[0].rte: unknown key"), "{m}");
    let m = err(&with_flow("paths = [0]\nbytes = 1\nfoo = true"));
    assert!(m.starts_with("s.toml: flow[0].foo: unknown key"), "{m}");
    let m = err(&with_path(
        "[[path.event]]\nat = \"1s\"\naction = \"down\"\nwhen = 3",
    ));
    assert!(
        m.starts_with("s.toml: path[0].event[0].when: unknown key"),
        "{m}"
    );
}

#[test]
fn missing_keys() {
    let m = err("[[path]]\nrate = \"1Mbit\"\n[[flow]]\npaths = [0]\nbytes = 1\n");
    assert_eq!(m, "s.toml: path[0].delay: missing required key");
    let m = err(&with_flow("paths = [0]"));
    assert_eq!(m, "s.toml: flow[0].bytes: missing required key");
    let m = err(&with_flow("bytes = 1"));
    assert_eq!(m, "s.toml: flow[0].paths: missing required key");
    let m = err("[[path]]\nrate = \"1Mbit\"\ndelay = \"1ms\"\n");
    assert_eq!(m, "s.toml: flow: missing required key");
    let m = err("[[flow]]\npaths = [0]\nbytes = 1\n");
    assert_eq!(m, "s.toml: path: missing required key");
}

#[test]
fn flow_path_out_of_range() {
    let m = err(&with_flow("paths = [0, 3]\nbytes = 1"));
    assert!(
        m.contains("flow[0].paths[1]: expected a path index below 1"),
        "{m}"
    );
    assert!(m.ends_with("got 3"), "{m}");
    let m = err(&with_flow("paths = [-1]\nbytes = 1"));
    assert!(m.contains("flow[0].paths[0]"), "{m}");
    let m = err(&with_flow("paths = [0, 0]\nbytes = 1"));
    assert!(m.contains("each path at most once"), "{m}");
    let m = err(&with_flow("paths = []\nbytes = 1"));
    assert!(m.contains("flow[0].paths: expected at least one"), "{m}");
    let m = err(&with_flow("paths = \"0\"\nbytes = 1"));
    assert!(m.contains("flow[0].paths: expected a list"), "{m}");
}

#[test]
fn tcp_needs_one_path() {
    let text = "[[path]]\nrate = \"1Mbit\"\ndelay = \"1ms\"\n[[path]]\nrate = \"1Mbit\"\ndelay = \"1ms\"\n[[flow]]\nkind = \"tcp\"\npaths = [0, 1]\nbytes = 1\n";
    let m = err(text);
    assert!(
        m.contains("flow[0].paths: expected exactly one path for a tcp flow"),
        "{m}"
    );
}

#[test]
fn bad_flow_fields() {
    let m = err(&with_flow("kind = \"udp\"\npaths = [0]\nbytes = 1"));
    assert!(
        m.contains("flow[0].kind: expected one of \"mptcp\", \"tcp\", got \"udp\""),
        "{m}"
    );
    let m = err(&with_flow("paths = [0]\nbytes = \"much\""));
    assert!(m.contains("flow[0].bytes: expected a size"), "{m}");
    let m = err(&with_flow("paths = [0]\nbytes = 1\ncc = \"vegas\""));
    assert!(
        m.contains(
            "flow[0].cc: expected one of \"reno\", \"cubic\", \"lia\", \"olia\", \"balia\", got \"vegas\""
        ),
        "{m}"
    );
    for name in ["lia", "olia", "balia"] {
        let s = Scenario::from_toml(
            &with_flow(&format!("paths = [0]\nbytes = 1\ncc = \"{name}\"")),
            "s.toml",
        )
        .unwrap();
        assert_eq!(s.flows[0].cc.name(), name);
    }
    let m = err(&with_flow("paths = [0]\nbytes = 1\nscheduler = \"random\""));
    assert!(
        m.contains("flow[0].scheduler: expected one of \"default\", \"min-rtt\""),
        "{m}"
    );
    let m = err(&with_flow(
        "paths = [0]\nbytes = 1\npath_manager = \"magic\"",
    ));
    assert!(
        m.contains("flow[0].path_manager: expected one of \"default\", \"fullmesh\""),
        "{m}"
    );
    let m = err(&with_flow("paths = [0]\nbytes = 1\nchecksum = \"yes\""));
    assert!(
        m.contains("flow[0].checksum: expected true or false"),
        "{m}"
    );
    let m = err(&with_flow(
        "paths = [0]\nbytes = 1\ndirection = \"sideways\"",
    ));
    assert!(m.contains("flow[0].direction"), "{m}");
    let m = err(&with_flow("paths = [0]\nbytes = 1\nstart = 5"));
    assert!(m.contains("flow[0].start: expected a duration"), "{m}");
}

#[test]
fn bad_top_level() {
    let m = err(&format!("seed = -1\n{}", with_path("")));
    assert!(m.contains("seed: expected a non-negative integer"), "{m}");
    let m = err(&format!("duration = \"forever\"\n{}", with_path("")));
    assert!(m.contains("duration: expected a duration"), "{m}");
    let m = err(&format!("duration = \"0s\"\n{}", with_path("")));
    assert!(m.contains("duration: expected a positive duration"), "{m}");
    let m = err(&format!("path = 3\n{}", "[[flow]]\npaths=[0]\nbytes=1\n"));
    assert!(m.contains("s.toml:"), "{m}");
}

#[test]
fn bad_events() {
    let m = err(&with_path(
        "[[path.event]]\nat = \"1s\"\naction = \"explode\"",
    ));
    assert!(
        m.contains("path[0].event[0].action: expected one of \"down\", \"up\", \"set\""),
        "{m}"
    );
    let m = err(&with_path("[[path.event]]\naction = \"down\""));
    assert_eq!(m, "s.toml: path[0].event[0].at: missing required key");
    let m = err(&with_path("[[path.event]]\nat = \"1s\"\naction = \"set\""));
    assert!(
        m.contains("path[0].event[0].rate|delay|loss|queue: missing"),
        "{m}"
    );
    let m = err(&with_path(
        "[[path.event]]\nat = \"1s\"\naction = \"down\"\nrate = \"1Mbit\"",
    ));
    assert!(
        m.contains("path[0].event[0].action: expected \"set\""),
        "{m}"
    );
    let m = err(&with_path(
        "[[path.event]]\nat = \"1s\"\naction = \"set\"\nrate = \"x\"",
    ));
    assert!(m.contains("path[0].event[0].rate: expected a rate"), "{m}");
}

#[test]
fn syntax_error_names_line() {
    let m = err("[[path]]\nrate = \"1Mbit\ndelay = 3\n");
    assert!(m.starts_with("s.toml: line 2: invalid TOML"), "{m}");
}

#[test]
fn missing_file() {
    let e = Scenario::from_file(Path::new("/nonexistent/x.toml")).unwrap_err();
    assert!(matches!(e, ScenarioError::Io { .. }));
    assert!(e
        .to_string()
        .starts_with("/nonexistent/x.toml: cannot read"));
}

#[test]
fn never_panics_on_garbage() {
    for text in [
        "",
        "=",
        "[[path]]\n[[path.event]]\n",
        "path = [1, 2]",
        "flow = [{}]",
        "[[flow]]\npaths = [[0]]\nbytes = 1",
        "seed = 1e400",
    ] {
        let _ = Scenario::from_toml(text, "g");
    }
}

#[test]
fn every_shipped_scenario_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            if let Err(e) = Scenario::from_file(&path) {
                panic!("{e}");
            }
            names.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for expected in [
        "heterogeneous-rtt.toml",
        "lossy-path.toml",
        "nat.toml",
        "path-down-up.toml",
        "shared-bottleneck.toml",
        "strip-mptcp.toml",
        "two-equal-paths.toml",
    ] {
        assert!(names.iter().any(|n| n == expected), "missing {expected}");
    }
}

#[test]
fn mtu_defaults_to_ethernet_and_is_checked() {
    let s = Scenario::from_toml(&with_path(""), "s.toml").unwrap();
    assert_eq!(s.paths[0].mtu, DEFAULT_MTU);
    let s = Scenario::from_toml(&with_path("mtu = 9000"), "s.toml").unwrap();
    assert_eq!(s.paths[0].mtu, 9000);
    let msg = err(&with_path("mtu = 100"));
    assert!(msg.contains("path[0].mtu"), "{msg}");
}

#[test]
fn flow_buffers_are_sizes_within_bounds() {
    let base =
        "[[path]]\nrate = \"10Mbit\"\ndelay = \"1ms\"\n[[flow]]\npaths = [0]\nbytes = \"1MB\"\n";
    let s = Scenario::from_toml(
        &format!("{base}recv_buffer = \"512KB\"\nsend_buffer = 65536\n"),
        "b.toml",
    )
    .unwrap();
    assert_eq!(s.flows[0].recv_buffer, Some(512_000));
    assert_eq!(s.flows[0].send_buffer, Some(65_536));
    let s = Scenario::from_toml(base, "b.toml").unwrap();
    assert_eq!(
        (s.flows[0].recv_buffer, s.flows[0].send_buffer),
        (None, None)
    );
    let e = Scenario::from_toml(&format!("{base}recv_buffer = \"1KB\"\n"), "b.toml").unwrap_err();
    assert!(e.to_string().contains("flow[0].recv_buffer"), "{e}");
}

#[test]
fn path_manager_specs_with_parameters() {
    for (spec, kind) in [
        ("ndiffports:3", PathManagerKind::NDiffPorts(3)),
        ("fullmesh", PathManagerKind::FullMesh),
        ("endpoints", PathManagerKind::Endpoints),
        (
            "lb-server:backup",
            PathManagerKind::LbServer { backup: true },
        ),
    ] {
        let text = with_flow(&format!(
            "paths = [0]\nbytes = 1\npath_manager = \"{spec}\""
        ));
        let s = Scenario::from_toml(&text, "s.toml").unwrap();
        assert_eq!(s.flows[0].path_manager, kind);
        assert_eq!(known_name(NameKind::PathManager, spec), Ok(()));
    }
    let m = err(&with_flow(
        "paths = [0]\nbytes = 1\npath_manager = \"ndiffports:0\"",
    ));
    assert!(m.contains("\"ndiffports:N\""), "{m}");
    assert!(known_name(NameKind::PathManager, "ndiffports:x").is_err());
}

#[test]
fn iface_events_parse_and_take_no_parameters() {
    let s = Scenario::from_toml(
        &with_path(
            "[[path.event]]\nat = \"1s\"\naction = \"iface-down\"\n[[path.event]]\nat = \"2s\"\naction = \"iface-up\"",
        ),
        "s.toml",
    )
    .unwrap();
    assert_eq!(s.paths[0].events[0].action, PathAction::IfaceDown);
    assert_eq!(s.paths[0].events[1].action, PathAction::IfaceUp);
    let m = err(&with_path(
        "[[path.event]]\nat = \"1s\"\naction = \"iface-up\"\nrate = \"1Mbit\"",
    ));
    assert!(m.contains("path[0].event[0].action"), "{m}");
}

#[test]
fn backup_paths_and_scheduler_parameters() {
    let s = Scenario::from_toml(&with_path("backup = true"), "x").unwrap();
    assert!(s.paths[0].backup);
    let s = Scenario::from_toml(&with_path(""), "x").unwrap();
    assert!(!s.paths[0].backup, "paths are regular by default");
    let m = err(&with_path("backup = \"yes\""));
    assert!(m.contains("path[0].backup: expected true or false"), "{m}");
    let s = Scenario::from_toml(
        &with_flow("paths = [0]\nbytes = 1\nscheduler = \"active-backup:200ms\""),
        "x",
    )
    .unwrap();
    assert_eq!(
        s.flows[0].scheduler,
        SchedulerKind::ActiveBackup {
            expiration: Some(Duration::from_millis(200))
        }
    );
    let m = err(&with_flow(
        "paths = [0]\nbytes = 1\nscheduler = \"active-backup:soon\"",
    ));
    assert!(m.contains("flow[0].scheduler: expected one of"), "{m}");
    assert!(m.contains("active-backup:DELAY"), "{m}");
}
