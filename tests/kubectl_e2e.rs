//! End-to-end tests: the real `ferrokube server` binary on a throwaway PostgreSQL, driven by stock kubectl
//! 1.27, 1.30, 1.33 and 1.37, asserting what a user sees (exact table headers and cells, messages, exit codes,
//! the stored objects). Each version is its own #[test] with its own server and namespace and runs the same
//! scenario, split into sections that each set up what they need; a failing section is recorded and the
//! others still run, so one run reports every difference for that version. Nothing here needs a
//! controller-manager, scheduler or kubelet: pods stay Pending and Deployments get no ReplicaSets.

#[allow(dead_code)]
#[path = "support/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "support/postgres.rs"]
mod postgres_support;

use std::collections::BTreeMap;
use std::fmt::Display;
use std::net::Ipv4Addr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use serde_json::Value;

use cluster::{Cluster, Kubectl, Output};

#[test]
fn kubectl_1_27() {
    run_scenario("1.27");
}

#[test]
fn kubectl_1_30() {
    run_scenario("1.30");
}

#[test]
fn kubectl_1_33() {
    run_scenario("1.33");
}

#[test]
fn kubectl_1_37() {
    run_scenario("1.37");
}

type Section = (&'static str, fn(&E2e));

const SECTIONS: &[Section] = &[
    ("cluster defaults", cluster_defaults),
    ("discovery", discovery),
    ("create -f", create_from_file),
    ("create namespace", create_namespace),
    ("create deployment", create_deployment),
    ("create configmap", create_configmap),
    ("create errors", create_errors),
    ("services", services),
    ("get", get),
    ("get -w", get_watch),
    ("describe", describe),
    ("apply", apply),
    ("edit", edit),
    ("patch", patch),
    ("label and annotate", label_and_annotate),
    ("scale", scale),
    ("replace", replace),
    ("diff", diff),
    ("delete", delete),
    ("wait --for=delete", wait_for_delete),
];

/// How much of the server's log a failing test shows.
const SERVER_LOG_TAIL_LINES: usize = 30;

fn run_scenario(minor: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime for the PostgreSQL helper");
    let database = runtime.block_on(postgres_support::TestPostgres::new());
    let cluster = Cluster::start_with_args(Some(&database.url()), minor, &["--disable-controller-manager", "--disable-scheduler"]);
    let e2e = E2e { k: cluster.kubectl(minor), ns: format!("e2e-kubectl-{}", minor.replace('.', "-")) };
    // The namespace comes from a manifest, so a broken `kubectl create namespace` (tested in "create namespace")
    // does not stop every other section.
    let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {}\n", e2e.ns);
    let created = e2e.k.command(&["create", "-f", "-"]).stdin(&namespace).run();
    if !(created.success() && created.stdout == format!("namespace/{} created\n", e2e.ns)) {
        panic!(
            "kubectl {minor}: cannot create the test namespace; nothing else can run:\n{created}\nserver stderr:\n{}",
            cluster.server_stderr()
        );
    }
    let mut failures = Vec::new();
    for (name, section) in SECTIONS {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| section(&e2e))) {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("=== kubectl {minor}, section \"{name}\" ===\n{message}"));
        }
    }
    if !failures.is_empty() {
        let log = cluster.server_stderr();
        let tail: Vec<&str> = log.lines().rev().take(SERVER_LOG_TAIL_LINES).collect::<Vec<_>>().into_iter().rev().collect();
        panic!(
            "kubectl {minor}: {} of {} sections failed\n\n{}\n\n=== server stderr (last {SERVER_LOG_TAIL_LINES} lines) ===\n{}",
            failures.len(),
            SECTIONS.len(),
            failures.join("\n\n"),
            tail.join("\n")
        );
    }
}

/// One kubectl version and the namespace it works in.
struct E2e {
    k: Kubectl,
    ns: String,
}

impl E2e {
    /// `kubectl -n <ns> <args>`.
    fn run(&self, args: &[&str]) -> Output {
        self.k.run(&self.with_ns(args))
    }

    /// `kubectl <args>` without a namespace flag.
    fn run_global(&self, args: &[&str]) -> Output {
        self.k.run(args)
    }

    fn with_ns<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        all
    }

    /// Runs `kubectl -n <ns> <args>` and requires exit code 0.
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        check(out.success(), &out, "expected exit code 0");
        out
    }

    /// Runs `kubectl -n <ns> <args>` and requires exit code 0 and exactly `stdout`.
    fn ok_prints(&self, args: &[&str], stdout: &str) -> Output {
        let out = self.ok(args);
        check(out.stdout == stdout, &out, format!("expected stdout {stdout:?}"));
        out
    }

    /// Runs `kubectl -n <ns> <args>` and requires exit code 1 and exactly `stderr` (one line, newline added).
    fn fails_with(&self, args: &[&str], stderr: &str) -> Output {
        let out = self.run(args);
        check(out.code == Some(1) && out.stderr == format!("{stderr}\n"), &out, format!("expected exit code 1 and stderr {stderr:?}"));
        out
    }

    /// Writes a manifest into the scratch dir and returns its path.
    fn manifest(&self, file: &str, content: &str) -> PathBuf {
        let path = self.k.scratch_dir().join(file);
        std::fs::write(&path, content).expect("write a manifest");
        path
    }

    /// Creates a ConfigMap from a manifest file (`kubectl create -f`), requiring `configmap/<name> created`.
    fn create_configmap(&self, name: &str, data: &[(&str, &str)]) {
        let file = self.manifest(&format!("configmap-{name}.yaml"), &configmap_yaml(name, data));
        self.ok_prints(&["create", "-f", &file.to_string_lossy()], &format!("configmap/{name} created\n"));
    }

    /// `kubectl get <resource> <name> -o json`, parsed.
    fn get_json(&self, resource: &str, name: &str) -> Value {
        let out = self.ok(&["get", resource, name, "-o", "json"]);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{}", describe_failure(&out, format!("stdout is not JSON: {e}"))))
    }

    /// Creates the object from `yaml` on stdin unless `<resource> <name>` already exists.
    fn ensure(&self, resource: &str, name: &str, yaml: &str) {
        if !self.run(&["get", resource, name, "-o", "name"]).success() {
            let out = self.k.command(&self.with_ns(&["create", "-f", "-"])).stdin(yaml).run();
            check(out.success(), &out, "expected exit code 0");
        }
    }

    /// What `kubectl delete` prints for one namespaced object: kubectl ≥ 1.34 names the namespace.
    fn deleted_line(&self, kind: &str, name: &str) -> String {
        if self.k.minor_number() >= 34 {
            format!("{kind} \"{name}\" deleted from {} namespace\n", self.ns)
        } else {
            format!("{kind} \"{name}\" deleted\n")
        }
    }
}

fn describe_failure(out: &Output, what: impl Display) -> String {
    format!("{what}\ncommand: {out}")
}

/// Panics with the command, what was expected and everything it printed.
fn check(condition: bool, out: &Output, what: impl Display) {
    if !condition {
        panic!("{}", describe_failure(out, what));
    }
}

/// A JSON value at a JSON pointer, Null when missing.
fn at<'a>(value: &'a Value, pointer: &str) -> &'a Value {
    value.pointer(pointer).unwrap_or(&Value::Null)
}

fn check_value(object: &Value, pointer: &str, expected: Value, context: &str) {
    let actual = at(object, pointer);
    assert!(*actual == expected, "{context}: expected {pointer} = {expected}, got {actual}\nobject: {object:#}");
}

// ---------------------------------------------------------------------------------------------------------
// Tables as kubectl prints them: columns aligned by tabwriter, at least 3 spaces between columns.

struct Table {
    header: String,
    columns: Vec<String>,
    starts: Vec<usize>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn parse(text: &str) -> Table {
        let mut lines = text.lines();
        let header = lines.next().unwrap_or_default().to_string();
        let chars: Vec<char> = header.chars().collect();
        let mut starts = Vec::new();
        for i in 0..chars.len() {
            let starts_here = chars[i] != ' ' && (i == 0 || (i >= 2 && chars[i - 1] == ' ' && chars[i - 2] == ' '));
            if starts_here {
                starts.push(i);
            }
        }
        let columns = cut(&chars, &starts);
        let rows = lines.filter(|l| !l.trim().is_empty()).map(|l| cut(&l.chars().collect::<Vec<_>>(), &starts)).collect();
        Table { header, columns, starts, rows }
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The row whose cell in `column` is `value`.
    fn row_where(&self, column: &str, value: &str) -> Option<BTreeMap<String, String>> {
        let index = self.column(column)?;
        self.rows
            .iter()
            .find(|r| r.get(index).map(String::as_str) == Some(value))
            .map(|r| self.columns.iter().cloned().zip(r.iter().cloned()).collect())
    }

    fn column_values(&self, column: &str) -> Vec<String> {
        match self.column(column) {
            Some(index) => self.rows.iter().map(|r| r.get(index).cloned().unwrap_or_default()).collect(),
            None => Vec::new(),
        }
    }
}

fn cut(chars: &[char], starts: &[usize]) -> Vec<String> {
    starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let end = starts.get(i + 1).copied().unwrap_or(chars.len()).min(chars.len());
            if start >= chars.len() {
                String::new()
            } else {
                chars[start..end].iter().collect::<String>().trim().to_string()
            }
        })
        .collect()
}

/// Parses a table from a command's stdout, requiring exactly the given columns.
fn table(out: &Output, columns: &[&str]) -> Table {
    let parsed = Table::parse(&out.stdout);
    check(
        parsed.columns == columns,
        out,
        format!("expected columns {columns:?}, got {:?} (header {:?}, starts {:?})", parsed.columns, parsed.header, parsed.starts),
    );
    parsed
}

/// Requires a row whose first-named cell matches and whose other cells are as given ("<age>" = any age).
fn check_row(out: &Output, parsed: &Table, key: (&str, &str), cells: &[(&str, &str)]) {
    let row = parsed.row_where(key.0, key.1);
    let Some(row) = row else {
        panic!("{}", describe_failure(out, format!("expected a row with {} = {:?}", key.0, key.1)));
    };
    for (column, expected) in cells {
        let actual = row.get(*column).map(String::as_str).unwrap_or("<missing column>");
        let matches = if *expected == "<age>" { is_age(actual) } else { actual == *expected };
        check(matches, out, format!("row {} = {:?}: expected {column} = {expected:?}, got {actual:?}", key.0, key.1));
    }
}

/// kubectl's human durations: "0s", "42s", "3m2s", "5h", "2d3h", "4y".
fn is_age(cell: &str) -> bool {
    cell.starts_with(|c: char| c.is_ascii_digit())
        && cell.chars().all(|c| c.is_ascii_digit() || "smhdy".contains(c))
        && !cell.ends_with(|c: char| c.is_ascii_digit())
}

fn ipv4_in(ip: &str, network: Ipv4Addr, prefix: u32) -> bool {
    match ip.parse::<Ipv4Addr>() {
        Ok(address) => {
            let mask = u32::MAX << (32 - prefix);
            u32::from(address) & mask == u32::from(network) & mask
        }
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Manifests

fn pod_yaml(name: &str, app: &str, image: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels:\n    app: {app}\nspec:\n  containers:\n  - name: {name}\n    image: {image}\n    ports:\n    - containerPort: 80\n"
    )
}

fn configmap_yaml(name: &str, data: &[(&str, &str)]) -> String {
    let mut yaml = format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n");
    for (key, value) in data {
        yaml.push_str(&format!("  {key}: \"{value}\"\n"));
    }
    yaml
}

/// A Deployment with two containers, `app` (image `app_image`) and `sidecar` (busybox).
fn two_container_deployment_yaml(name: &str, app_image: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: app
        image: {app_image}
      - name: sidecar
        image: busybox:1.36
        command: [\"sleep\", \"infinity\"]
"
    )
}

const SERVICE_YAML: &str = "apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
";

fn all_in_one_yaml() -> String {
    [
        pod_yaml("web", "web", "nginx:1.25"),
        configmap_yaml("cfg", &[("greeting", "hello")]),
        two_container_deployment_yaml("web", "nginx:1.25"),
        SERVICE_YAML.to_string(),
    ]
    .join("---\n")
}

/// The Deployment the apply section applies twice: v1, then v2 with a new image, env var and port.
fn api_deployment_yaml(image: &str, env: &[(&str, &str)], ports: &[(u16, &str)]) -> String {
    let mut yaml = format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels:
    app: api
spec:
  replicas: 1
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      containers:
      - name: api
        image: {image}
        env:
"
    );
    for (name, value) in env {
        yaml.push_str(&format!("        - name: {name}\n          value: \"{value}\"\n"));
    }
    yaml.push_str("        ports:\n");
    for (port, name) in ports {
        yaml.push_str(&format!("        - containerPort: {port}\n          name: {name}\n"));
    }
    yaml
}

// ---------------------------------------------------------------------------------------------------------
// Sections

fn cluster_defaults(e: &E2e) {
    let out = e.ok(&["get", "namespaces"]);
    let parsed = table(&out, &["NAME", "STATUS", "AGE"]);
    for name in ["default", "kube-system", "kube-public", "kube-node-lease", e.ns.as_str()] {
        check_row(&out, &parsed, ("NAME", name), &[("STATUS", "Active"), ("AGE", "<age>")]);
    }

    let out = e.run_global(&["get", "svc", "kubernetes", "-n", "default"]);
    check(out.success(), &out, "expected exit code 0");
    let parsed = table(&out, &["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
    check(
        parsed.header == "NAME         TYPE        CLUSTER-IP   EXTERNAL-IP   PORT(S)   AGE",
        &out,
        "expected the header of a real cluster",
    );
    check(parsed.rows.len() == 1, &out, "expected exactly one row");
    check_row(
        &out,
        &parsed,
        ("NAME", "kubernetes"),
        &[("TYPE", "ClusterIP"), ("CLUSTER-IP", "10.96.0.1"), ("EXTERNAL-IP", "<none>"), ("PORT(S)", "443/TCP"), ("AGE", "<age>")],
    );
}

fn discovery(e: &E2e) {
    let out = e.ok(&["api-resources"]);
    let parsed = table(&out, &["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]);
    check_row(&out, &parsed, ("NAME", "pods"), &[("SHORTNAMES", "po"), ("APIVERSION", "v1"), ("NAMESPACED", "true"), ("KIND", "Pod")]);
    check_row(
        &out,
        &parsed,
        ("NAME", "deployments"),
        &[("SHORTNAMES", "deploy"), ("APIVERSION", "apps/v1"), ("NAMESPACED", "true"), ("KIND", "Deployment")],
    );
    check_row(
        &out,
        &parsed,
        ("NAME", "namespaces"),
        &[("SHORTNAMES", "ns"), ("APIVERSION", "v1"), ("NAMESPACED", "false"), ("KIND", "Namespace")],
    );
    check_row(
        &out,
        &parsed,
        ("NAME", "services"),
        &[("SHORTNAMES", "svc"), ("APIVERSION", "v1"), ("NAMESPACED", "true"), ("KIND", "Service")],
    );
    check_row(
        &out,
        &parsed,
        ("NAME", "configmaps"),
        &[("SHORTNAMES", "cm"), ("APIVERSION", "v1"), ("NAMESPACED", "true"), ("KIND", "ConfigMap")],
    );

    let out = e.ok(&["api-resources", "--api-group=apps", "-o", "name"]);
    for line in ["deployments.apps", "replicasets.apps", "statefulsets.apps", "daemonsets.apps"] {
        check(out.stdout.lines().any(|l| l == line), &out, format!("expected a line {line:?}"));
    }

    let out = e.ok(&["api-versions"]);
    for version in ["v1", "apps/v1"] {
        check(out.stdout.lines().any(|l| l == version), &out, format!("expected a line {version:?}"));
    }

    let out = e.ok(&["explain", "pods.spec.containers"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(
        lines.first() == Some(&"KIND:       Pod") && lines.get(1) == Some(&"VERSION:    v1"),
        &out,
        "expected KIND: Pod and VERSION: v1 on the first lines",
    );
    for line in ["FIELD: containers <[]Container>", "DESCRIPTION:", "FIELDS:", "  image\t<string>", "  name\t<string> -required-"] {
        check(lines.contains(&line), &out, format!("expected the line {line:?}"));
    }
    check(
        lines.iter().any(|l| l.starts_with("    List of containers belonging to the pod.")),
        &out,
        "expected the description of pod.spec.containers",
    );
}

fn create_from_file(e: &E2e) {
    let file = e.manifest("all-in-one.yaml", &all_in_one_yaml());
    e.ok_prints(
        &["create", "-f", file.to_str().unwrap()],
        "pod/web created\nconfigmap/cfg created\ndeployment.apps/web created\nservice/web created\n",
    );

    let pod = e.get_json("pod", "web");
    check_value(&pod, "/metadata/namespace", Value::from(e.ns.as_str()), "created pod");
    check_value(&pod, "/spec/containers/0/image", Value::from("nginx:1.25"), "created pod");
    check_value(&pod, "/status/phase", Value::from("Pending"), "created pod");
    assert!(at(&pod, "/metadata/uid").as_str().is_some_and(|u| !u.is_empty()), "created pod has no metadata.uid: {pod:#}");
    assert!(
        at(&pod, "/metadata/creationTimestamp").as_str().is_some_and(|t| t.ends_with('Z')),
        "created pod has no RFC 3339 creationTimestamp: {pod:#}"
    );
    let configmap = e.get_json("configmap", "cfg");
    check_value(&configmap, "/data", serde_json::json!({"greeting": "hello"}), "created configmap");
    let deployment = e.get_json("deployment", "web");
    check_value(&deployment, "/spec/replicas", Value::from(1), "created deployment");
    check_value(&deployment, "/spec/template/spec/containers/1/name", Value::from("sidecar"), "created deployment");
    let service = e.get_json("service", "web");
    check_value(&service, "/spec/type", Value::from("NodePort"), "created service");
}

fn create_namespace(e: &E2e) {
    let extra = format!("{}-extra", e.ns);
    e.ok_prints(&["create", "namespace", &extra], &format!("namespace/{extra} created\n"));
    let namespace = e.get_json("namespace", &extra);
    check_value(&namespace, "/status/phase", Value::from("Active"), "kubectl create namespace");
    check_value(&namespace, "/metadata/labels/kubernetes.io~1metadata.name", Value::from(extra.as_str()), "kubectl create namespace");
    check_value(&namespace, "/spec/finalizers", serde_json::json!(["kubernetes"]), "kubectl create namespace");
}

fn create_deployment(e: &E2e) {
    e.ok_prints(&["create", "deployment", "web2", "--image=nginx"], "deployment.apps/web2 created\n");
    let web2 = e.get_json("deployment", "web2");
    check_value(&web2, "/spec/replicas", Value::from(1), "kubectl create deployment");
    check_value(&web2, "/spec/selector/matchLabels", serde_json::json!({"app": "web2"}), "kubectl create deployment");
    check_value(&web2, "/spec/template/spec/containers/0/name", Value::from("nginx"), "kubectl create deployment");
    check_value(&web2, "/spec/template/spec/containers/0/image", Value::from("nginx"), "kubectl create deployment");
    // Defaulting: an image without a tag is pulled Always; Deployments get their upstream defaults.
    check_value(&web2, "/spec/template/spec/containers/0/imagePullPolicy", Value::from("Always"), "kubectl create deployment (defaults)");
    check_value(
        &web2,
        "/spec/strategy",
        serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        "kubectl create deployment (defaults)",
    );
    check_value(&web2, "/spec/revisionHistoryLimit", Value::from(10), "kubectl create deployment (defaults)");
    check_value(&web2, "/spec/progressDeadlineSeconds", Value::from(600), "kubectl create deployment (defaults)");
}

fn create_configmap(e: &E2e) {
    e.ok_prints(&["create", "configmap", "lit", "--from-literal=a=1", "--from-literal=b=two"], "configmap/lit created\n");
    let lit = e.get_json("configmap", "lit");
    check_value(&lit, "/data", serde_json::json!({"a": "1", "b": "two"}), "kubectl create configmap --from-literal");
}

fn create_errors(e: &E2e) {
    let bad = e.manifest("bad-pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: bad\n");
    e.fails_with(&["create", "-f", bad.to_str().unwrap()], "The Pod \"bad\" is invalid: spec.containers[0].image: Required value");
    e.fails_with(&["get", "pod", "bad"], "Error from server (NotFound): pods \"bad\" not found");

    let typo = e.manifest(
        "typo-pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: typo\nspec:\n  containers:\n  - name: typo\n    image: nginx\n    imagee: nginx\n",
    );
    let typo_path = typo.to_str().unwrap();
    e.fails_with(
        &["create", "-f", typo_path],
        &format!("Error from server (BadRequest): error when creating \"{typo_path}\": Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagee\""),
    );

    let dup = e.manifest("dup.yaml", &configmap_yaml("dup", &[("k", "v")]));
    let dup_path = dup.to_str().unwrap();
    e.ok_prints(&["create", "-f", dup_path], "configmap/dup created\n");
    e.fails_with(
        &["create", "-f", dup_path],
        &format!("Error from server (AlreadyExists): error when creating \"{dup_path}\": configmaps \"dup\" already exists"),
    );
}

fn services(e: &E2e) {
    e.ensure("service", "web", SERVICE_YAML);
    let service = e.get_json("service", "web");
    let cluster_ip = at(&service, "/spec/clusterIP").as_str().unwrap_or_default().to_string();
    assert!(
        ipv4_in(&cluster_ip, Ipv4Addr::new(10, 96, 0, 0), 12),
        "service web: clusterIP {cluster_ip:?} is not inside 10.96.0.0/12: {service:#}"
    );
    assert!(cluster_ip != "10.96.0.1", "service web got the kubernetes Service's address 10.96.0.1");
    check_value(&service, "/spec/clusterIPs", serde_json::json!([cluster_ip]), "service web");
    let node_port = at(&service, "/spec/ports/0/nodePort").as_u64().unwrap_or(0);
    assert!((30000..=32767).contains(&node_port), "service web: nodePort {node_port} is not inside 30000-32767: {service:#}");
    check_value(&service, "/spec/ports/0/protocol", Value::from("TCP"), "service web (defaults)");
    check_value(&service, "/spec/sessionAffinity", Value::from("None"), "service web (defaults)");
    check_value(&service, "/spec/externalTrafficPolicy", Value::from("Cluster"), "service web (defaults)");

    let out = e.ok(&["get", "services", "-o", "wide"]);
    let parsed = table(&out, &["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]);
    check_row(
        &out,
        &parsed,
        ("NAME", "web"),
        &[
            ("TYPE", "NodePort"),
            ("CLUSTER-IP", &cluster_ip),
            ("EXTERNAL-IP", "<none>"),
            ("PORT(S)", &format!("80:{node_port}/TCP")),
            ("AGE", "<age>"),
            ("SELECTOR", "app=web"),
        ],
    );
}

fn get(e: &E2e) {
    e.ensure("pod", "web", &pod_yaml("web", "web", "nginx:1.25"));

    // Only `web` exists yet: the exact table a real cluster prints.
    let out = e.ok(&["get", "pods"]);
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(
        lines.len() == 2 && lines[0] == "NAME   READY   STATUS    RESTARTS   AGE",
        &out,
        "expected the header `NAME   READY   STATUS    RESTARTS   AGE` and one row",
    );
    check(
        lines.get(1).is_some_and(|l| l.strip_prefix("web    0/1     Pending   0          ").is_some_and(is_age)),
        &out,
        "expected the row `web    0/1     Pending   0          <age>`",
    );

    let out = e.ok(&["get", "pod", "web", "-o", "yaml"]);
    let pod: Value =
        serde_yaml::from_str(&out.stdout).unwrap_or_else(|err| panic!("{}", describe_failure(&out, format!("not YAML: {err}"))));
    for line in [
        "restartPolicy: Always",
        "serviceAccountName: default",
        "terminationGracePeriodSeconds: 30",
        "imagePullPolicy: IfNotPresent",
        "dnsPolicy: ClusterFirst",
        "phase: Pending",
    ] {
        check(
            out.stdout.lines().any(|l| l.trim_start().trim_start_matches("- ") == line),
            &out,
            format!("expected the defaulted field `{line}`"),
        );
    }
    check(out.stdout.starts_with("apiVersion: v1\nkind: Pod\nmetadata:\n"), &out, "expected apiVersion, kind, metadata first");
    for (pointer, expected) in [
        ("/spec/restartPolicy", Value::from("Always")),
        ("/spec/serviceAccountName", Value::from("default")),
        ("/spec/terminationGracePeriodSeconds", Value::from(30)),
        ("/spec/schedulerName", Value::from("default-scheduler")),
        ("/spec/enableServiceLinks", Value::from(true)),
        ("/spec/containers/0/imagePullPolicy", Value::from("IfNotPresent")),
        ("/spec/containers/0/terminationMessagePath", Value::from("/dev/termination-log")),
        ("/spec/containers/0/terminationMessagePolicy", Value::from("File")),
        ("/spec/containers/0/ports/0/protocol", Value::from("TCP")),
        ("/status/phase", Value::from("Pending")),
        ("/status/qosClass", Value::from("BestEffort")),
    ] {
        check_value(&pod, pointer, expected, "kubectl get pod web -o yaml");
    }

    let out = e.ok(&["get", "pod", "web", "-o", "json"]);
    let json: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{}", describe_failure(&out, format!("not JSON: {err}"))));
    check_value(&json, "/kind", Value::from("Pod"), "kubectl get pod web -o json");
    check_value(&json, "/apiVersion", Value::from("v1"), "kubectl get pod web -o json");
    check_value(&json, "/metadata/name", Value::from("web"), "kubectl get pod web -o json");
    assert!(at(&json, "/metadata/resourceVersion").as_str().is_some_and(|rv| !rv.is_empty()), "no resourceVersion: {json:#}");

    e.ok_prints(&["get", "pod", "web", "-o", "name"], "pod/web\n");
    e.ok_prints(&["get", "pod", "web", "-o", "jsonpath={.spec.containers[0].image}"], "nginx:1.25");
    e.ok_prints(&["get", "pod", "web", "-o", "jsonpath={.metadata.name} {.status.phase}"], "web Pending");

    let out = e.ok(&["get", "pods", "-o", "wide"]);
    let parsed = table(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]);
    check_row(
        &out,
        &parsed,
        ("NAME", "web"),
        &[
            ("READY", "0/1"),
            ("STATUS", "Pending"),
            ("RESTARTS", "0"),
            ("AGE", "<age>"),
            ("IP", "<none>"),
            ("NODE", "<none>"),
            ("NOMINATED NODE", "<none>"),
            ("READINESS GATES", "<none>"),
        ],
    );

    // A second pod, for selectors, lists and sorting.
    let other = e.manifest("other-pod.yaml", &pod_yaml("other", "other", "busybox:1.36"));
    e.ok_prints(&["create", "-f", other.to_str().unwrap()], "pod/other created\n");

    e.ok_prints(&["get", "pods", "-o", "name"], "pod/other\npod/web\n");
    e.ok_prints(&["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"], "other web");
    let out = e.ok(&["get", "pods", "-o", "json"]);
    let list: Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|err| panic!("{}", describe_failure(&out, format!("not JSON: {err}"))));
    check_value(&list, "/kind", Value::from("List"), "kubectl get pods -o json");
    let names: Vec<&str> = at(&list, "/items")
        .as_array()
        .map(|items| items.iter().filter_map(|i| at(i, "/metadata/name").as_str()).collect())
        .unwrap_or_default();
    check(names == ["other", "web"], &out, format!("expected items other, web; got {names:?}"));

    let out = e.ok(&["get", "pods", "-o", "custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[0].image,PHASE:.status.phase"]);
    let parsed = table(&out, &["NAME", "IMAGE", "PHASE"]);
    check(
        parsed.rows == [["other", "busybox:1.36", "Pending"], ["web", "nginx:1.25", "Pending"]],
        &out,
        "expected rows other/busybox:1.36/Pending and web/nginx:1.25/Pending",
    );

    let out = e.ok(&["get", "pods", "-A"]);
    let parsed = table(&out, &["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    check_row(
        &out,
        &parsed,
        ("NAME", "web"),
        &[("NAMESPACE", &e.ns), ("READY", "0/1"), ("STATUS", "Pending"), ("RESTARTS", "0"), ("AGE", "<age>")],
    );
    check_row(&out, &parsed, ("NAME", "other"), &[("NAMESPACE", &e.ns)]);

    let out = e.ok(&["get", "pods", "-l", "app=web"]);
    let parsed = table(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    check(parsed.column_values("NAME") == ["web"], &out, "expected only web for -l app=web");
    let out = e.ok(&["get", "pods", "-l", "app!=web"]);
    check(
        table(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE"]).column_values("NAME") == ["other"],
        &out,
        "expected only other for -l app!=web",
    );
    let out = e.ok(&["get", "pods", "-l", "app in (web,other)", "-o", "name"]);
    check(out.stdout == "pod/other\npod/web\n", &out, "expected both pods for -l 'app in (web,other)'");
    let out = e.ok(&["get", "pods", "-l", "app=nothing"]);
    check(
        out.stdout.is_empty() && out.stderr == format!("No resources found in {} namespace.\n", e.ns),
        &out,
        "expected `No resources found in <ns> namespace.` on stderr",
    );

    let out = e.ok(&["get", "pods", "--field-selector", "metadata.name=other"]);
    check(
        table(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE"]).column_values("NAME") == ["other"],
        &out,
        "expected only other for --field-selector metadata.name=other",
    );
    e.ok_prints(&["get", "pods", "--field-selector", "status.phase=Pending", "-o", "name"], "pod/other\npod/web\n");

    let out = e.ok(&["get", "pods", "--show-labels"]);
    let parsed = table(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE", "LABELS"]);
    check_row(&out, &parsed, ("NAME", "web"), &[("LABELS", "app=web")]);
    check_row(&out, &parsed, ("NAME", "other"), &[("LABELS", "app=other")]);

    let out = e.ok(&["get", "pods", "--sort-by=.metadata.name"]);
    check(
        table(&out, &["NAME", "READY", "STATUS", "RESTARTS", "AGE"]).column_values("NAME") == ["other", "web"],
        &out,
        "expected other, web",
    );
    // Sorting by a field that orders differently from the names needs the full objects in the Table rows.
    for (name, rank) in [("sort-a", "3"), ("sort-b", "1"), ("sort-c", "2")] {
        e.create_configmap(name, &[("rank", rank)]);
    }
    e.ok_prints(
        &["label", "configmap", "sort-a", "sort-b", "sort-c", "group=sorting"],
        "configmap/sort-a labeled\nconfigmap/sort-b labeled\nconfigmap/sort-c labeled\n",
    );
    let out = e.ok(&["get", "configmaps", "-l", "group=sorting", "--sort-by=.data.rank"]);
    let parsed = table(&out, &["NAME", "DATA", "AGE"]);
    check(parsed.column_values("NAME") == ["sort-b", "sort-c", "sort-a"], &out, "expected sort-b, sort-c, sort-a (by .data.rank)");
    check(parsed.column_values("DATA") == ["1", "1", "1"], &out, "expected DATA 1 for each");
}

fn get_watch(e: &E2e) {
    e.ensure("pod", "web", &pod_yaml("web", "web", "nginx:1.25"));
    let mut watch = e.k.command(&e.with_ns(&["get", "pods", "-w"])).spawn();
    let listed = watch.wait_for_line(Duration::from_secs(30), |l| l.starts_with("web "));
    let initial = watch.stdout_so_far();
    if !listed {
        let out = watch.stop();
        panic!("{}", describe_failure(&out, "expected the initial list with a `web` row within 30s"));
    }
    assert!(initial.starts_with("NAME "), "kubectl get pods -w: expected the header first, got:\n{initial}");
    let file = e.manifest("watched-pod.yaml", &pod_yaml("watched", "watched", "nginx:1.25"));
    e.ok_prints(&["create", "-f", file.to_str().unwrap()], "pod/watched created\n");
    let seen = watch.wait_for_line(Duration::from_secs(30), |l| {
        let cells: Vec<&str> = l.split_whitespace().collect();
        cells.len() == 5 && cells[..4] == ["watched", "0/1", "Pending", "0"] && is_age(cells[4])
    });
    let out = watch.stop();
    check(seen, &out, "expected a row `watched   0/1   Pending   0   <age>` within 30s of creating the pod");
    check(!out.stderr.contains("rror"), &out, "expected no errors while watching");
}

fn describe(e: &E2e) {
    e.ensure("pod", "web", &pod_yaml("web", "web", "nginx:1.25"));
    let out = e.ok(&["describe", "pod", "web"]);
    let field = |indent: usize, key: &str| -> Option<String> {
        out.stdout.lines().find_map(|l| {
            let body = l.strip_prefix(&" ".repeat(indent))?;
            if body.starts_with(' ') {
                return None;
            }
            body.strip_prefix(&format!("{key}:")).map(|v| v.trim().to_string())
        })
    };
    for (indent, key, expected) in [
        (0, "Name", "web"),
        (0, "Namespace", e.ns.as_str()),
        (0, "Priority", "0"),
        (0, "Service Account", "default"),
        (0, "Node", "<none>"),
        (0, "Labels", "app=web"),
        (0, "Annotations", "<none>"),
        (0, "Status", "Pending"),
        (0, "Containers", ""),
        (2, "web", ""),
        (4, "Image", "nginx:1.25"),
        (4, "Port", "80/TCP"),
        (0, "QoS Class", "BestEffort"),
        (0, "Events", "<none>"),
    ] {
        let actual = field(indent, key);
        check(
            actual.as_deref() == Some(expected),
            &out,
            format!("expected a line `{}{key}: {expected}`, found {actual:?}", " ".repeat(indent)),
        );
    }
}

fn apply(e: &E2e) {
    let v1 = api_deployment_yaml("nginx:1.25", &[("A", "1")], &[(80, "http")]);
    let v2 = api_deployment_yaml("nginx:1.26", &[("A", "1"), ("B", "2")], &[(80, "http"), (8080, "metrics")]);
    let v1_file = e.manifest("api-v1.yaml", &v1);
    let v2_file = e.manifest("api-v2.yaml", &v2);
    let v1_path = v1_file.to_str().unwrap();
    let v2_path = v2_file.to_str().unwrap();

    e.ok_prints(&["apply", "-f", v1_path], "deployment.apps/api created\n");
    e.ok_prints(&["apply", "-f", v1_path], "deployment.apps/api unchanged\n");
    // A change made outside apply: an env var apply never owned must survive the next apply.
    e.ok_prints(
        &[
            "patch",
            "deployment",
            "api",
            "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"api","env":[{"name":"C","value":"3"}]}]}}}}"#,
        ],
        "deployment.apps/api patched\n",
    );
    e.ok_prints(&["apply", "-f", v2_path], "deployment.apps/api configured\n");
    // (Not re-applied here: the patch above put C first, so kubectl's three-way patch carries a
    // $setElementOrder directive and a real cluster reports "configured" again.)

    let live = e.get_json("deployment", "api");
    let containers = at(&live, "/spec/template/spec/containers").as_array().cloned().unwrap_or_default();
    assert!(containers.len() == 1, "apply: expected one container, got {containers:#?}");
    check_value(&live, "/spec/template/spec/containers/0/image", Value::from("nginx:1.26"), "apply (changed image)");
    let env: BTreeMap<String, String> = at(&live, "/spec/template/spec/containers/0/env")
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| (at(v, "/name").as_str().unwrap_or("").to_string(), at(v, "/value").as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    let expected_env: BTreeMap<String, String> =
        [("A", "1"), ("B", "2"), ("C", "3")].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert!(
        env == expected_env,
        "apply: expected env merged by name to A=1, B=2 (added by apply), C=3 (added by patch); got {env:?}\nobject: {live:#}"
    );
    let mut ports: Vec<(u64, String, String)> = at(&live, "/spec/template/spec/containers/0/ports")
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    (
                        at(p, "/containerPort").as_u64().unwrap_or(0),
                        at(p, "/name").as_str().unwrap_or("").to_string(),
                        at(p, "/protocol").as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    ports.sort();
    assert!(
        ports == [(80, "http".to_string(), "TCP".to_string()), (8080, "metrics".to_string(), "TCP".to_string())],
        "apply: expected ports 80/http/TCP and 8080/metrics/TCP; got {ports:?}"
    );

    let annotation = at(&live, "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration").as_str().unwrap_or_default();
    assert!(
        annotation.ends_with('\n'),
        "apply: the last-applied-configuration annotation should be the applied JSON plus a newline; got {annotation:?}"
    );
    let applied: Value = serde_json::from_str(annotation)
        .unwrap_or_else(|err| panic!("apply: last-applied-configuration is not JSON ({err}): {annotation:?}"));
    check_value(&applied, "/metadata/name", Value::from("api"), "last-applied-configuration");
    check_value(&applied, "/spec/template/spec/containers/0/image", Value::from("nginx:1.26"), "last-applied-configuration");
    check_value(
        &applied,
        "/spec/template/spec/containers/0/env",
        serde_json::json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        "last-applied-configuration",
    );
    check_value(
        &applied,
        "/spec/template/spec/containers/0/ports",
        serde_json::json!([{"containerPort": 80, "name": "http"}, {"containerPort": 8080, "name": "metrics"}]),
        "last-applied-configuration",
    );
}

fn edit(e: &E2e) {
    e.create_configmap("editme", &[("color", "before-edit")]);
    let out = e.k.command(&e.with_ns(&["edit", "configmap", "editme"])).env("KUBE_EDITOR", "sed -i 's/before-edit/after-edit/'").run();
    check(out.success() && out.stdout == "configmap/editme edited\n", &out, "expected exit code 0 and `configmap/editme edited`");
    check_value(&e.get_json("configmap", "editme"), "/data", serde_json::json!({"color": "after-edit"}), "kubectl edit");

    // An editor that changes nothing: kubectl cancels the edit.
    let out = e.k.command(&e.with_ns(&["edit", "configmap", "editme"])).env("KUBE_EDITOR", "true").run();
    check(
        out.success() && out.stdout.is_empty() && out.stderr == "Edit cancelled, no changes made.\n",
        &out,
        "expected `Edit cancelled, no changes made.` on stderr",
    );
}

fn patch(e: &E2e) {
    let file = e.manifest("patchme.yaml", &two_container_deployment_yaml("patchme", "nginx:1.25"));
    e.ok_prints(&["create", "-f", file.to_str().unwrap()], "deployment.apps/patchme created\n");
    // Strategic merge (the default): containers merge by name, so the sidecar stays.
    let strategic = r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.26"}]}}}}"#;
    e.ok_prints(&["patch", "deployment", "patchme", "-p", strategic], "deployment.apps/patchme patched\n");
    let live = e.get_json("deployment", "patchme");
    let containers: Vec<(String, String)> = at(&live, "/spec/template/spec/containers")
        .as_array()
        .map(|list| {
            list.iter()
                .map(|c| (at(c, "/name").as_str().unwrap_or("").to_string(), at(c, "/image").as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        containers == [("app".to_string(), "nginx:1.26".to_string()), ("sidecar".to_string(), "busybox:1.36".to_string())],
        "strategic merge patch: expected containers app=nginx:1.26 and sidecar=busybox:1.36; got {containers:?}"
    );
    check_value(&live, "/metadata/generation", Value::from(2), "a spec change bumps metadata.generation");
    e.ok_prints(&["patch", "deployment", "patchme", "-p", strategic], "deployment.apps/patchme patched (no change)\n");

    e.create_configmap("patchcm", &[("a", "1"), ("b", "2")]);
    e.ok_prints(
        &["patch", "configmap", "patchcm", "--type", "merge", "-p", r#"{"data":{"b":null,"c":"3"}}"#],
        "configmap/patchcm patched\n",
    );
    check_value(&e.get_json("configmap", "patchcm"), "/data", serde_json::json!({"a": "1", "c": "3"}), "kubectl patch --type merge");
    e.ok_prints(
        &[
            "patch",
            "configmap",
            "patchcm",
            "--type",
            "json",
            "-p",
            r#"[{"op":"replace","path":"/data/a","value":"10"},{"op":"add","path":"/data/d","value":"4"}]"#,
        ],
        "configmap/patchcm patched\n",
    );
    check_value(
        &e.get_json("configmap", "patchcm"),
        "/data",
        serde_json::json!({"a": "10", "c": "3", "d": "4"}),
        "kubectl patch --type json",
    );
}

fn label_and_annotate(e: &E2e) {
    // kubectl 1.27 says "annotate"; 1.28 changed it to "annotated".
    let annotated = if e.k.minor_number() >= 28 { "configmap/labelme annotated\n" } else { "configmap/labelme annotate\n" };
    e.create_configmap("labelme", &[("k", "v")]);
    let labels = |e: &E2e| at(&e.get_json("configmap", "labelme"), "/metadata/labels").clone();
    let annotations = |e: &E2e| at(&e.get_json("configmap", "labelme"), "/metadata/annotations").clone();

    e.ok_prints(&["label", "configmap", "labelme", "env=prod"], "configmap/labelme labeled\n");
    assert_eq!(labels(e), serde_json::json!({"env": "prod"}), "after kubectl label env=prod");
    e.fails_with(&["label", "configmap", "labelme", "env=staging"], "error: 'env' already has a value (prod), and --overwrite is false");
    e.ok_prints(&["label", "--overwrite", "configmap", "labelme", "env=staging"], "configmap/labelme labeled\n");
    assert_eq!(labels(e), serde_json::json!({"env": "staging"}), "after kubectl label --overwrite env=staging");
    e.ok_prints(&["label", "configmap", "labelme", "env-"], "configmap/labelme unlabeled\n");
    let after = labels(e);
    assert!(after.is_null() || after == serde_json::json!({}), "after kubectl label env-: expected no labels, got {after}");

    e.ok_prints(&["annotate", "configmap", "labelme", "note=hello"], annotated);
    assert_eq!(annotations(e), serde_json::json!({"note": "hello"}), "after kubectl annotate note=hello");
    e.fails_with(
        &["annotate", "configmap", "labelme", "note=bye"],
        "error: --overwrite is false but found the following declared annotation(s): 'note' already has a value (hello)",
    );
    e.ok_prints(&["annotate", "--overwrite", "configmap", "labelme", "note=bye"], annotated);
    assert_eq!(annotations(e), serde_json::json!({"note": "bye"}), "after kubectl annotate --overwrite note=bye");
    e.ok_prints(&["annotate", "configmap", "labelme", "note-"], annotated);
    let after = annotations(e);
    assert!(after.is_null() || after == serde_json::json!({}), "after kubectl annotate note-: expected no annotations, got {after}");
}

fn scale(e: &E2e) {
    let file = e.manifest("scaleme.yaml", &two_container_deployment_yaml("scaleme", "nginx:1.25"));
    e.ok_prints(&["create", "-f", file.to_str().unwrap()], "deployment.apps/scaleme created\n");
    e.ok_prints(&["scale", "deployment", "scaleme", "--replicas=3"], "deployment.apps/scaleme scaled\n");
    e.ok_prints(&["get", "deployment", "scaleme", "-o", "jsonpath={.spec.replicas}"], "3");
    // No controller runs, so nothing is ready; the table shows the desired count.
    let out = e.ok(&["get", "deployment", "scaleme", "-o", "wide"]);
    let parsed = table(&out, &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]);
    check_row(
        &out,
        &parsed,
        ("NAME", "scaleme"),
        &[
            ("READY", "0/3"),
            ("UP-TO-DATE", "0"),
            ("AVAILABLE", "0"),
            ("AGE", "<age>"),
            ("CONTAINERS", "app,sidecar"),
            ("IMAGES", "nginx:1.25,busybox:1.36"),
            ("SELECTOR", "app=scaleme"),
        ],
    );
    // --current-replicas is a precondition checked against the live object.
    e.fails_with(&["scale", "deployment", "scaleme", "--current-replicas=2", "--replicas=5"], "error: Expected replicas to be 2, was 3");
    e.ok_prints(&["get", "deployment", "scaleme", "-o", "jsonpath={.spec.replicas}"], "3");
}

fn replace(e: &E2e) {
    e.create_configmap("replaceme", &[("old", "1")]);
    let stale_rv = at(&e.get_json("configmap", "replaceme"), "/metadata/resourceVersion").as_str().unwrap_or_default().to_string();
    let file = e.manifest("replaceme.yaml", &configmap_yaml("replaceme", &[("new", "2")]));
    e.ok_prints(&["replace", "-f", file.to_str().unwrap()], "configmap/replaceme replaced\n");
    let live = e.get_json("configmap", "replaceme");
    check_value(&live, "/data", serde_json::json!({"new": "2"}), "kubectl replace");
    assert!(
        at(&live, "/metadata/resourceVersion").as_str() != Some(stale_rv.as_str()),
        "kubectl replace: resourceVersion did not change: {live:#}"
    );

    // A manifest carrying an old resourceVersion is an optimistic-concurrency conflict.
    let stale = e.manifest(
        "replaceme-stale.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: replaceme\n  resourceVersion: \"{stale_rv}\"\ndata:\n  stale: \"3\"\n"
        ),
    );
    let stale_path = stale.to_str().unwrap();
    e.fails_with(
        &["replace", "-f", stale_path],
        &format!("Error from server (Conflict): error when replacing \"{stale_path}\": Operation cannot be fulfilled on configmaps \"replaceme\": the object has been modified; please apply your changes to the latest version and try again"),
    );
    check_value(&e.get_json("configmap", "replaceme"), "/data", serde_json::json!({"new": "2"}), "after the conflicting replace");
}

fn diff(e: &E2e) {
    let original = e.manifest("diffme.yaml", &two_container_deployment_yaml("diffme", "nginx:1.25"));
    let original_path = original.to_str().unwrap();
    e.ok_prints(&["apply", "-f", original_path], "deployment.apps/diffme created\n");

    let out = e.run(&["diff", "-f", original_path]);
    check(
        out.code == Some(0) && out.stdout.is_empty() && out.stderr.is_empty(),
        &out,
        "expected exit code 0 and no output for an unchanged manifest",
    );

    let changed = e.manifest("diffme-changed.yaml", &two_container_deployment_yaml("diffme", "nginx:1.26"));
    let out = e.run(&["diff", "-f", changed.to_str().unwrap()]);
    check(out.code == Some(1), &out, "expected exit code 1 (differences found)");
    let object = format!("apps.v1.Deployment.{}.diffme", e.ns);
    check(
        out.stdout.lines().any(|l| l.starts_with("diff -u -N ") && l.ends_with(&object)),
        &out,
        format!("expected a `diff -u -N …/{object}` line"),
    );
    let changed_lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| (l.starts_with('-') && !l.starts_with("---")) || (l.starts_with('+') && !l.starts_with("+++")))
        .collect();
    check(
        changed_lines.iter().any(|l| l.starts_with('-') && l[1..].trim().trim_start_matches("- ") == "image: nginx:1.25"),
        &out,
        "expected a removed line `image: nginx:1.25`",
    );
    check(
        changed_lines.iter().any(|l| l.starts_with('+') && l[1..].trim().trim_start_matches("- ") == "image: nginx:1.26"),
        &out,
        "expected an added line `image: nginx:1.26`",
    );
    check(
        !changed_lines
            .iter()
            // The last-applied annotation is one JSON line holding the whole manifest.
            .filter(|l| !l[1..].trim_start().starts_with('{'))
            .any(|l| l.contains("busybox") || l.contains("replicas")),
        &out,
        "expected the sidecar and replicas not to change",
    );
    // diff is a dry run: the live object is untouched.
    e.ok_prints(&["get", "deployment", "diffme", "-o", "jsonpath={.spec.template.spec.containers[0].image}"], "nginx:1.25");
}

fn delete(e: &E2e) {
    let file = e.manifest("doomed.yaml", &pod_yaml("doomed", "doomed", "nginx:1.25"));
    e.ok_prints(&["create", "-f", file.to_str().unwrap()], "pod/doomed created\n");
    // The default --wait=true returns once the pod is gone; an unscheduled pod goes at once.
    e.ok_prints(&["delete", "pod", "doomed"], &e.deleted_line("pod", "doomed"));
    e.fails_with(&["get", "pod", "doomed"], "Error from server (NotFound): pods \"doomed\" not found");
    e.fails_with(&["delete", "pod", "doomed"], "Error from server (NotFound): pods \"doomed\" not found");

    e.create_configmap("gone", &[("k", "v")]);
    e.ok_prints(
        &["delete", "-f", &e.manifest("gone.yaml", &configmap_yaml("gone", &[])).to_string_lossy()],
        &e.deleted_line("configmap", "gone"),
    );
    e.fails_with(&["get", "configmap", "gone"], "Error from server (NotFound): configmaps \"gone\" not found");
}

fn wait_for_delete(e: &E2e) {
    // A finalizer keeps the object until it is removed, so the wait is deterministic.
    let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers:\n  - e2e.ferrokube.dev/hold\ndata:\n  k: v\n";
    e.ok_prints(&["create", "-f", &e.manifest("held.yaml", held).to_string_lossy()], "configmap/held created\n");
    e.ok_prints(&["delete", "configmap", "held", "--wait=false"], &e.deleted_line("configmap", "held"));
    let live = e.get_json("configmap", "held");
    assert!(
        at(&live, "/metadata/deletionTimestamp").is_string(),
        "a deleted object with a finalizer keeps existing with a deletionTimestamp: {live:#}"
    );

    let mut waiter = e.k.command(&e.with_ns(&["wait", "--for=delete", "configmap/held", "--timeout=90s"])).spawn();
    thread::sleep(Duration::from_secs(3));
    if waiter.exited() {
        let out = waiter.finish(Duration::from_secs(5));
        panic!("{}", describe_failure(&out, "kubectl wait --for=delete returned while the object still existed"));
    }
    e.ok_prints(
        &["patch", "configmap", "held", "--type", "merge", "-p", r#"{"metadata":{"finalizers":null}}"#],
        "configmap/held patched\n",
    );
    let out = waiter.finish(Duration::from_secs(60));
    check(
        out.success() && out.stdout == "configmap/held condition met\n",
        &out,
        "expected exit code 0 and `configmap/held condition met` once the finalizer was removed",
    );
    e.fails_with(&["get", "configmap", "held"], "Error from server (NotFound): configmaps \"held\" not found");
}
