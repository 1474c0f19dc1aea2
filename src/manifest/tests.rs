//! Table-driven tests of `manifest::parse`: exact `file:line:col: path: message` strings.

use super::*;

fn raw(files: &[(&str, &str)]) -> Vec<RawFile> {
    files
        .iter()
        .map(|(p, t)| RawFile {
            path: p.to_string(),
            bytes: t.as_bytes().to_vec(),
        })
        .collect()
}

/// Diagnostics rendered; warnings prefixed `warning: `.
fn render(p: &Parsed) -> Vec<String> {
    p.diagnostics
        .iter()
        .map(|d| match d.severity {
            Severity::Warning => format!("warning: {d}"),
            Severity::Error => d.to_string(),
        })
        .collect()
}

fn check(files: &[(&str, &str)]) -> Vec<String> {
    render(&parse(&raw(files)))
}

const DEPLOY: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
spec:
  selector:
    matchLabels:
      run: my-nginx
  replicas: 3
  template:
    metadata:
      labels:
        run: my-nginx
    spec:
      containers:
      - name: my-nginx
        image: nginx
        ports:
        - containerPort: 80
";

fn seed_files() -> Vec<RawFile> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-apps");
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            files.push(RawFile {
                path: format!("apps/{}", p.file_name().unwrap().to_str().unwrap()),
                bytes: std::fs::read(&p).unwrap(),
            });
        }
    }
    assert_eq!(files.len(), 3);
    files
}

#[test]
fn seed_fixtures_parse_clean() {
    let parsed = parse(&seed_files());
    assert_eq!(render(&parsed), Vec::<String>::new());
    let names: Vec<String> = parsed
        .manifests
        .iter()
        .map(|m| {
            format!(
                "{} {} {}",
                m.object.kind(),
                m.object.qualified_name(),
                m.source
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "Deployment default/my-nginx apps/my_nginx.yaml:1:1",
            "Service default/my-nginx apps/my_service.yaml:1:1",
            "Pod default/sc-nginx apps/nginx-pod.yaml:1:1",
        ]
    );
}

#[test]
fn defaults_match_the_api_server() {
    let parsed = parse(&seed_files());
    let Object::Deployment(d) = &parsed.manifests[0].object else {
        panic!()
    };
    let json = serde_json::to_value(d).unwrap();
    let expected = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "my-nginx", "namespace": "default"},
        "spec": {
            "progressDeadlineSeconds": 600,
            "replicas": 3,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"run": "my-nginx"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"run": "my-nginx"}},
                "spec": {
                    "containers": [{
                        "image": "nginx",
                        "imagePullPolicy": "Always",
                        "name": "my-nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst",
                    "restartPolicy": "Always",
                    "schedulerName": "default-scheduler",
                    "securityContext": {},
                    "terminationGracePeriodSeconds": 30
                }
            }
        }
    });
    assert_eq!(
        json,
        expected,
        "{}",
        serde_json::to_string_pretty(&json).unwrap()
    );

    let Object::Service(s) = &parsed.manifests[1].object else {
        panic!()
    };
    let spec = serde_json::to_value(s.spec.as_ref().unwrap()).unwrap();
    assert_eq!(
        spec,
        serde_json::json!({
            "externalTrafficPolicy": "Cluster",
            "internalTrafficPolicy": "Cluster",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 80}],
            "selector": {"run": "my-nginx"},
            "sessionAffinity": "None",
            "type": "NodePort"
        })
    );

    let Object::Pod(p) = &parsed.manifests[2].object else {
        panic!()
    };
    let c = &p.spec.as_ref().unwrap().containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
}

#[test]
fn job_and_daemonset_defaults() {
    let parsed = parse(&raw(&[(
        "a.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox:1, resources: {limits: {cpu: 500m}}}]\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d, namespace: kube-system}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: busybox}]}\n",
    )]));
    assert_eq!(render(&parsed), Vec::<String>::new());
    let Object::Job(j) = &parsed.manifests[0].object else {
        panic!()
    };
    let spec = j.spec.as_ref().unwrap();
    assert_eq!(
        (spec.completions, spec.parallelism, spec.backoff_limit),
        (Some(1), Some(1), Some(6))
    );
    let c = &spec.template.spec.as_ref().unwrap().containers[0];
    // Requests default to limits on pods only (upstream SetDefaults_Pod), never in a template: the
    // pod-template-hash is computed over the template as stored.
    assert!(c.resources.as_ref().unwrap().requests.is_none());
    let Object::DaemonSet(d) = &parsed.manifests[1].object else {
        panic!()
    };
    assert_eq!(d.metadata.namespace.as_deref(), Some("kube-system"));
    let us =
        serde_json::to_value(d.spec.as_ref().unwrap().update_strategy.as_ref().unwrap()).unwrap();
    assert_eq!(
        us,
        serde_json::json!({"rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}, "type": "RollingUpdate"})
    );
}

#[test]
fn error_classes() {
    let dep = |edit: &dyn Fn(&str) -> String| edit(DEPLOY);
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "broken yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n".to_string(),
            vec!["a.yaml:5:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"],
        ),
        (
            "duplicate key",
            dep(&|s| s.replace("  replicas: 3\n", "  replicas: 3\n  replicas: 4\n")),
            vec!["a.yaml:10:3: spec.replicas: duplicate key \"replicas\" (first defined at line 9, column 3)"],
        ),
        (
            "unknown kind",
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\n".to_string(),
            vec!["a.yaml:2:7: kind: unsupported kind \"ServiceAccount\" (apiVersion \"v1\"): clusterctl supports Pod, Deployment, ReplicaSet, DaemonSet, Job, Service, Namespace, ConfigMap, Secret, StatefulSet, PersistentVolumeClaim, PersistentVolume, StorageClass"],
        ),
        (
            "wrong apiVersion",
            dep(&|s| s.replace("apps/v1", "extensions/v1beta1")),
            vec!["a.yaml:1:13: apiVersion: Invalid value: \"extensions/v1beta1\": no matches for kind \"Deployment\" in version \"extensions/v1beta1\" (use apiVersion \"apps/v1\")"],
        ),
        (
            "missing kind and apiVersion",
            "metadata:\n  name: x\n".to_string(),
            vec![
                "a.yaml:1:1: apiVersion: Required value: apiVersion not set",
                "a.yaml:1:1: kind: Required value: kind not set",
            ],
        ),
        (
            "selector mismatch",
            dep(&|s| s.replacen("        run: my-nginx", "        run: other", 1)),
            vec!["a.yaml:13:9: spec.template.metadata.labels: Invalid value: map[string]string{\"run\":\"other\"}: `selector` does not match template `labels`"],
        ),
        (
            "missing selector",
            dep(&|s| s.replace("  selector:\n    matchLabels:\n      run: my-nginx\n", "")),
            vec!["a.yaml:6:3: spec.selector: Required value"],
        ),
        (
            "port 70000",
            dep(&|s| s.replace("containerPort: 80", "containerPort: 70000")),
            vec!["a.yaml:19:26: spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"],
        ),
        (
            "missing image",
            dep(&|s| s.replace("        image: nginx\n", "")),
            vec!["a.yaml:16:9: spec.template.spec.containers[0].image: Required value"],
        ),
        (
            "bad name",
            dep(&|s| s.replacen("name: my-nginx", "name: My_Nginx", 1)),
            vec!["a.yaml:4:9: metadata.name: Invalid value: \"My_Nginx\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"],
        ),
        (
            "bad quantity",
            dep(&|s| s.replace("        ports:\n", "        resources:\n          limits:\n            memory: 1Gb\n        ports:\n")),
            vec!["a.yaml:20:21: spec.template.spec.containers[0].resources.limits[memory]: Invalid value: \"1Gb\": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"],
        ),
        (
            "request above limit",
            dep(&|s| s.replace("        ports:\n", "        resources:\n          limits: {cpu: 500m}\n          requests: {cpu: \"1\"}\n        ports:\n")),
            vec!["a.yaml:20:27: spec.template.spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m"],
        ),
        (
            "unknown field warning",
            dep(&|s| s.replace("        image: nginx\n", "        image: nginx\n        imagePolicy: Always\n")),
            vec!["warning: a.yaml:18:9: spec.template.spec.containers[0]: unknown field \"imagePolicy\""],
        ),
        (
            "type error",
            dep(&|s| s.replace("replicas: 3", "replicas: three")),
            vec!["a.yaml:9:13: spec.replicas: invalid type: string \"three\", expected i32"],
        ),
        (
            "number where a string is expected",
            dep(&|s| s.replace("        ports:\n", "        env:\n        - name: PORT\n          value: 8080\n        ports:\n")),
            vec!["a.yaml:20:18: spec.template.spec.containers[0].env[0].value: invalid type: integer `8080`, expected a string (quote it to make it a string: \"8080\")"],
        ),
        (
            "negative replicas",
            dep(&|s| s.replace("replicas: 3", "replicas: -1")),
            vec!["a.yaml:9:13: spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
        ),
        (
            "restart policy of a deployment",
            dep(&|s| s.replace("      containers:\n", "      restartPolicy: Never\n      containers:\n")),
            vec!["a.yaml:15:22: spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""],
        ),
        (
            "duplicate container names",
            dep(&|s| s.replace("        ports:\n        - containerPort: 80\n", "      - name: my-nginx\n        image: busybox\n")),
            vec!["a.yaml:18:15: spec.template.spec.containers[1].name: Duplicate value: \"my-nginx\""],
        ),
        (
            "bad port name and label value",
            dep(&|s| s.replace("- containerPort: 80", "- containerPort: 80\n          name: Web_1").replacen("    matchLabels:\n      run: my-nginx", "    matchLabels:\n      run: my nginx", 1)),
            vec![
                "a.yaml:8:12: spec.selector.matchLabels: Invalid value: \"my nginx\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                "a.yaml:20:17: spec.template.spec.containers[0].ports[0].name: Invalid value: \"Web_1\": must contain only alphanumeric characters (a-z, 0-9), and hyphens (-)",
            ],
        ),
        (
            "unsupported service type",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: ExternalName\n  ports:\n  - port: 80\n".to_string(),
            vec!["a.yaml:6:9: spec.type: Unsupported value: \"ExternalName\": clusterctl supports \"ClusterIP\", \"NodePort\", \"LoadBalancer\""],
        ),
        (
            "load balancer fields as the API server checks them",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n  clusterIP: None\n  healthCheckNodePort: 30100\n  loadBalancerSourceRanges: [\"10.0.0.0/8\", \"nope\"]\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 5\n  ports:\n  - port: 80\n".to_string(),
            vec![
                "a.yaml:7:14: spec.clusterIP: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services",
                "a.yaml:8:24: spec.healthCheckNodePort: Invalid value: 30100: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
                "a.yaml:9:44: spec.loadBalancerSourceRanges[1]: Invalid value: \"nope\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                "a.yaml:11:5: spec.sessionAffinityConfig: Invalid value: must not be set when session affinity is None",
            ],
        ),
        (
            "source ranges only for LoadBalancer",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  loadBalancerSourceRanges: [\"10.0.0.0/8\"]\n  sessionAffinity: ClientIP\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 0\n  ports:\n  - port: 80\n".to_string(),
            vec![
                "a.yaml:7:29: spec.loadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'",
                "a.yaml:11:23: spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400",
            ],
        ),
        (
            "service name is a DNS-1035 label; ports need names when several",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: 1web\nspec:\n  ports:\n  - port: 80\n  - port: 0\n    targetPort: http\n".to_string(),
            vec![
                "a.yaml:4:9: metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
                "a.yaml:7:5: spec.ports[0].name: Required value",
                "a.yaml:8:5: spec.ports[1].name: Required value",
                "a.yaml:8:11: spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive",
            ],
        ),
        (
            "job restart policy defaults to Always, which a Job refuses",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:\n      containers:\n      - name: c\n        image: busybox\n".to_string(),
            vec!["a.yaml:8:7: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""],
        ),
        (
            "unsupported volume type warning",
            dep(&|s| s.replace("      containers:\n", "      volumes:\n      - name: v\n        nfs: {server: x, path: /}\n      containers:\n")),
            vec!["warning: a.yaml:17:9: spec.template.spec.volumes[0].nfs: clusterctl does not support volume type \"nfs\"; volume \"v\" is not mounted"],
        ),
        (
            "not a mapping",
            "- a\n- b\n".to_string(),
            vec!["a.yaml:1:1: expected a Kubernetes object (a mapping with apiVersion and kind), found a sequence"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, want) in &cases {
        let got = check(&[("a.yaml", text)]);
        if &got != want {
            failures.push(format!("{name}:\n  want {want:#?}\n  got  {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn duplicate_objects_across_files() {
    let got = check(&[("apps/b.yaml", DEPLOY), ("apps/a.yaml", DEPLOY)]);
    assert_eq!(
        got,
        vec![
            "apps/b.yaml:1:1: duplicate Deployment \"default/my-nginx\" (first defined at apps/a.yaml:1:1)"
        ]
    );
    // Same name, other namespace or other kind: fine.
    let other_ns = DEPLOY.replace("  name: my-nginx\n", "  name: my-nginx\n  namespace: web\n");
    let parsed = parse(&raw(&[("apps/a.yaml", DEPLOY), ("apps/b.yaml", &other_ns)]));
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    assert_eq!(parsed.manifests.len(), 2);
}

#[test]
fn all_problems_of_all_files_in_one_run() {
    let bad_port = DEPLOY.replace("containerPort: 80", "containerPort: 70000");
    let parsed = parse(&raw(&[
        ("apps/z.yaml", "a: [\n"),
        (
            "apps/m.yaml",
            &format!(
                "{bad_port}---\n# nothing\n---\n{}",
                DEPLOY
                    .replace("my-nginx", "two")
                    .replace("image: nginx", "image: \" nginx\"")
            ),
        ),
        (
            "apps/ok.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n",
        ),
    ]));
    let got = render(&parsed);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert!(got[0].starts_with("apps/m.yaml:19:26: "), "{got:#?}");
    assert!(got[1].starts_with("apps/m.yaml:39:16: spec.template.spec.containers[0].image: Invalid value: \" nginx\": must not have leading or trailing whitespace"), "{got:#?}");
    assert!(
        got[2].starts_with("apps/z.yaml:2:1: invalid YAML"),
        "{got:#?}"
    );
    assert_eq!(parsed.manifests.len(), 1);
    assert_eq!(parsed.manifests[0].object.kind(), "Namespace");
}

#[test]
fn hostile_values_are_rejected_but_free_form_ones_pass() {
    for bad in [
        "-rf",
        "\"$(reboot)\"",
        "\"a;b\"",
        "\"a\\nb\"",
        "\"a b\"",
        "\"`id`\"",
    ] {
        let text = DEPLOY.replacen("  name: my-nginx", &format!("  name: {bad}"), 1);
        let parsed = parse(&raw(&[("a.yaml", &text)]));
        assert!(parsed.has_errors(), "metadata.name {bad} must be rejected");
        assert!(parsed.manifests.is_empty());
        let text = DEPLOY.replace("      - name: my-nginx", &format!("      - name: {bad}"));
        assert!(
            parse(&raw(&[("a.yaml", &text)])).has_errors(),
            "container name {bad}"
        );
        let text = DEPLOY.replace("run: my-nginx", &format!("run: {bad}"));
        assert!(
            parse(&raw(&[("a.yaml", &text)])).has_errors(),
            "label value {bad}"
        );
        let text = DEPLOY.replace(
            "  name: my-nginx\n",
            &format!("  name: my-nginx\n  namespace: {bad}\n"),
        );
        assert!(
            parse(&raw(&[("a.yaml", &text)])).has_errors(),
            "namespace {bad}"
        );
        let text = DEPLOY.replace(
            "        ports:\n",
            &format!("        env:\n        - name: {bad}\n          value: x\n        ports:\n"),
        );
        // Upstream's env name rule allows a leading '-' (`-rf` is a valid name); the rest are refused.
        if bad != "-rf" {
            assert!(
                parse(&raw(&[("a.yaml", &text)])).has_errors(),
                "env name {bad}"
            );
        }
    }
    let text = DEPLOY.replace(
        "        ports:\n",
        "        command: [sh, -c, \"echo $(id); rm -rf /tmp/x && echo done\"]\n        args: [\"--flag=a b\", \"; ls\"]\n        env:\n        - name: GREETING\n          value: \"$(hello); `world`\\nnext\"\n        ports:\n",
    );
    let parsed = parse(&raw(&[("a.yaml", &text)]));
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
}

#[test]
fn lists_and_multi_document_files() {
    let text = format!(
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {{name: a}}\n- apiVersion: v1\n  kind: Namespace\n  metadata: {{name: b}}\n---\n{DEPLOY}"
    );
    let parsed = parse(&raw(&[("l.yaml", &text)]));
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let got: Vec<String> = parsed
        .manifests
        .iter()
        .map(|m| format!("{} {}", m.object.qualified_name(), m.source))
        .collect();
    assert_eq!(
        got,
        vec![
            "a l.yaml:4:3",
            "b l.yaml:7:3",
            "default/my-nginx l.yaml:11:1"
        ]
    );
}

/// The walkthrough's imperative start, `kubectl create deployment k8s-nginx --image=nginx -r 3`, as
/// `--dry-run=client -o yaml` prints it.
#[test]
fn kubectl_create_dry_run_output_parses_clean() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  creationTimestamp: null\n  labels:\n    app: k8s-nginx\n  name: k8s-nginx\nspec:\n  replicas: 3\n  selector:\n    matchLabels:\n      app: k8s-nginx\n  strategy: {}\n  template:\n    metadata:\n      creationTimestamp: null\n      labels:\n        app: k8s-nginx\n    spec:\n      containers:\n      - image: nginx\n        name: nginx\n        resources: {}\nstatus: {}\n";
    let parsed = parse(&raw(&[("apps/k8s-nginx.yaml", text)]));
    assert!(parsed.diagnostics.is_empty(), "{:?}", parsed.diagnostics);
    let Object::Deployment(d) = &parsed.manifests[0].object else {
        panic!()
    };
    let s = d.spec.as_ref().unwrap();
    assert_eq!(s.replicas, Some(3));
    assert_eq!(
        s.strategy.as_ref().unwrap().type_.as_deref(),
        Some("RollingUpdate")
    );
}

#[test]
fn more_error_classes() {
    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "nodePort on a ClusterIP service",
            "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports:\n  - {port: 80, nodePort: 30080}\n",
            vec![
                "a.yaml:7:26: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'",
            ],
        ),
        (
            "maxSurge and maxUnavailable both 0",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  selector: {matchLabels: {a: b}}\n  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n",
            vec![
                "a.yaml:6:59: spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0",
            ],
        ),
        (
            "namespace names have no dots",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a.b\n",
            vec!["a.yaml:4:9: metadata.name: Invalid value: \"a.b\": must not contain dots"],
        ),
        ("only comments", "# nothing here\n---\n# nor here\n", vec![]),
        (
            "tabs are not indentation",
            "apiVersion: v1\nkind: Pod\nmetadata:\n\tname: x\n",
            vec![
                "a.yaml:4:2: invalid YAML: tabs disallowed within this context (block indentation)",
            ],
        ),
        (
            "toleration effect",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  tolerations:\n  - {key: k, operator: Exists, effect: Sometimes}\n  containers: [{name: c, image: i}]\n",
            vec![
                "a.yaml:6:40: spec.tolerations[0].effect: Unsupported value: \"Sometimes\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"",
            ],
        ),
        (
            "empty containers",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: []\n",
            vec!["a.yaml:5:15: spec.containers: Required value"],
        ),
        (
            "a mapping where a list is expected",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: {name: c}\n",
            vec!["a.yaml:5:15: spec.containers: invalid type: map, expected a sequence"],
        ),
    ];
    let mut failures = Vec::new();
    for (name, text, want) in &cases {
        let got = check(&[("a.yaml", text)]);
        if &got != want {
            failures.push(format!("{name}:\n  want {want:#?}\n  got  {got:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn non_utf8_files_are_reported() {
    let parsed = parse(&[RawFile {
        path: "a.yaml".to_string(),
        bytes: b"apiVersion: v1\nkind: \xff\n".to_vec(),
    }]);
    assert_eq!(render(&parsed), vec!["a.yaml:2:7: file is not valid UTF-8"]);
}

#[test]
fn runtime_strings_hostname_and_value_from() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  hostname: \"a\\nb\"\n  subdomain: Sub\n  containers:\n  - name: a\n    image: \"nginx\\tx\"\n    workingDir: \"/a\\0b\"\n    args: [ok, \"x\\0\"]\n    env:\n    - name: A\n      value: \"1\\0\"\n    - name: B\n      valueFrom: {fieldRef: {fieldPath: metadata.name}}\n";
    assert_eq!(
        check(&[("apps/p.yaml", pod)]),
        vec![
            "apps/p.yaml:6:13: spec.hostname: Invalid value: \"a\\nb\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "apps/p.yaml:7:14: spec.subdomain: Invalid value: \"Sub\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
            "apps/p.yaml:10:12: spec.containers[0].image: Invalid value: \"nginx\\tx\": must not contain whitespace or control characters (not a valid image reference)",
            "apps/p.yaml:11:17: spec.containers[0].workingDir: Invalid value: \"/a\\x00b\": must not contain a NUL character (the container runtime cannot carry it)",
            "apps/p.yaml:12:16: spec.containers[0].args[1]: Invalid value: \"x\\x00\": must not contain a NUL character (the container runtime cannot carry it)",
            "apps/p.yaml:15:14: spec.containers[0].env[0].value: Invalid value: \"1\\x00\": must not contain a NUL character (the container runtime cannot carry it)"
        ]
    );
}

#[test]
fn control_characters_in_file_names_are_escaped() {
    let out = check(&[("apps/\u{1b}[31mred.yaml", "apiVersion: v1\nkind: Pod\n")]);
    assert!(!out.is_empty());
    for line in &out {
        assert!(line.starts_with("apps/\\x1b[31mred.yaml:"), "{out:?}");
        assert!(!line.contains('\u{1b}'), "{out:?}");
    }
}

#[test]
fn job_validation_messages() {
    let job = |spec: &str, policy: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: j}}\nspec:\n{spec}  template:\n    spec:\n{policy}      containers: [{{name: c, image: busybox}}]\n"
        )
    };
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "restartPolicy unset (defaults to Always)",
            job("", ""),
            vec![
                "a.yaml:7:7: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            ],
        ),
        (
            "restartPolicy Always",
            job("", "      restartPolicy: Always\n"),
            vec![
                "a.yaml:7:22: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            ],
        ),
        (
            "Indexed without completions",
            job(
                "  parallelism: 2\n  completionMode: Indexed\n",
                "      restartPolicy: Never\n",
            ),
            vec!["a.yaml:5:3: spec.completions: Required value: when completion mode is Indexed"],
        ),
        (
            "negative ttl, backoffLimit, zero deadline",
            job(
                "  ttlSecondsAfterFinished: -1\n  backoffLimit: -2\n  activeDeadlineSeconds: 0\n",
                "      restartPolicy: OnFailure\n",
            ),
            vec![
                "a.yaml:5:28: spec.ttlSecondsAfterFinished: Invalid value: -1: must be greater than or equal to 0",
                "a.yaml:6:17: spec.backoffLimit: Invalid value: -2: must be greater than or equal to 0",
                "a.yaml:7:26: spec.activeDeadlineSeconds: Invalid value: 0: must be greater than or equal to 1",
            ],
        ),
        (
            "unimplemented features are named",
            job(
                "  podFailurePolicy: {rules: []}\n  backoffLimitPerIndex: 1\n  completionMode: Indexed\n  completions: 2\n",
                "      restartPolicy: Never\n",
            ),
            vec![
                "warning: a.yaml:5:3: spec.podFailurePolicy: clusterctl does not support this field; it is ignored",
                "warning: a.yaml:6:3: spec.backoffLimitPerIndex: clusterctl does not support this field; it is ignored",
            ],
        ),
    ];
    for (what, text, want) in cases {
        let mut got = check(&[("a.yaml", &text)]);
        got.sort();
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(got, want, "{what}");
    }
}
#[test]
fn a_daemon_set_max_surge_is_accepted_and_both_zero_is_invalid() {
    let ds = |ru: &str| {
        format!(
            "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: d}}\nspec:\n  selector: {{matchLabels: {{a: b}}}}\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {ru}\n  template:\n    metadata: {{labels: {{a: b}}}}\n    spec: {{containers: [{{name: c, image: busybox}}]}}\n"
        )
    };
    assert!(check(&[("a.yaml", &ds("{maxSurge: 1, maxUnavailable: 0}"))]).is_empty());
    assert!(check(&[("a.yaml", &ds("{maxSurge: \"25%\", maxUnavailable: 0}"))]).is_empty());
    assert_eq!(
        check(&[("a.yaml", &ds("{maxSurge: 0, maxUnavailable: 0}"))]).len(),
        1,
        "both zero is invalid"
    );
    assert_eq!(
        check(&[("a.yaml", &ds("{maxUnavailable: 0}"))]).len(),
        1,
        "maxSurge defaults to 0"
    );
    assert!(check(&[("a.yaml", &ds("{maxSurge: 0, maxUnavailable: 1}"))]).is_empty());
    assert!(check(&[("a.yaml", &ds("{maxSurge: \"0%\", maxUnavailable: 1}"))]).is_empty());
}

#[test]
fn service_fields_clusterctl_does_not_route_are_named() {
    let svc = |extra: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec:\n  selector: {{a: b}}\n  ports: [{{port: 80}}]\n{extra}"
        )
    };
    assert_eq!(
        check(&[(
            "s.yaml",
            &svc("  externalIPs: [192.0.2.10]\n  internalTrafficPolicy: Local\n")
        )]),
        [
            "warning: s.yaml:7:3: spec.externalIPs: clusterctl does not support this field; it is ignored",
            "warning: s.yaml:8:3: spec.internalTrafficPolicy: clusterctl routes ClusterIP traffic to every Ready endpoint (Cluster); Local is ignored",
        ]
    );
    assert!(
        check(&[(
            "s.yaml",
            &svc("  internalTrafficPolicy: Cluster\n  externalIPs: []\n")
        )])
        .is_empty()
    );
}

#[path = "tests_podsec.rs"]
mod podsec;
#[path = "tests_storage.rs"]
mod storage;

#[test]
fn probes_are_validated_like_the_api_server() {
    let pod = |probes: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: nginx\n{probes}"
        )
    };
    let cases = [
        (
            "valid",
            pod(
                "    livenessProbe:\n      httpGet: {path: /, port: 80}\n    readinessProbe:\n      exec: {command: [cat, /ok]}\n      successThreshold: 3\n",
            ),
            vec![],
        ),
        (
            "liveness successThreshold must be 1",
            pod("    livenessProbe:\n      tcpSocket: {port: 80}\n      successThreshold: 3\n"),
            vec![
                "a.yaml:11:25: spec.containers[0].livenessProbe.successThreshold: Invalid value: 3: must be 1",
            ],
        ),
        (
            "startup too, negative values, no handler",
            pod("    startupProbe:\n      successThreshold: 2\n      periodSeconds: -1\n"),
            vec![
                "a.yaml:10:7: spec.containers[0].startupProbe: Required value: must specify a handler type",
                "a.yaml:10:25: spec.containers[0].startupProbe.successThreshold: Invalid value: 2: must be 1",
                "a.yaml:11:22: spec.containers[0].startupProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
            ],
        ),
        (
            "HTTPS and grpc are evaluated: no warning",
            pod(
                "    livenessProbe:\n      grpc: {port: 9000}\n    readinessProbe:\n      httpGet: {port: 443, scheme: HTTPS}\n",
            ),
            vec![],
        ),
    ];
    for (what, text, want) in cases {
        let mut got = check(&[("a.yaml", &text)]);
        got.sort();
        let mut want: Vec<String> = want.into_iter().map(String::from).collect();
        want.sort();
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn dns_config_limits_as_the_api_server() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  dnsPolicy: None\n  dnsConfig:\n    nameservers: [1.1.1.1, 1.1.1.2, 1.1.1.3, nope]\n    searches: [a.example, Bad_Name]\n    options:\n    - value: \"2\"\n  containers:\n  - name: a\n    image: nginx\n";
    assert_eq!(
        check(&[("apps/p.yaml", pod)]),
        vec![
            "apps/p.yaml:8:18: spec.dnsConfig.nameservers: Invalid value: []string{\"1.1.1.1\", \"1.1.1.2\", \"1.1.1.3\", \"nope\"}: must not have more than 3 nameservers",
            "apps/p.yaml:8:46: spec.dnsConfig.nameservers[3]: Invalid value: \"nope\": must be valid IP address",
            "apps/p.yaml:9:27: spec.dnsConfig.searches[1]: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
            "apps/p.yaml:11:7: spec.dnsConfig.options[0]: Required value: Option.Name must not be empty",
        ]
    );
    let none = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  dnsPolicy: None\n  containers:\n  - name: a\n    image: nginx\n";
    let out = check(&[("apps/p.yaml", none)]);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].contains(
            "spec.dnsConfig: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
        ),
        "{out:?}"
    );
}
