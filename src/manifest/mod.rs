//! Manifests: multi-document YAML files → typed Kubernetes objects (`k8s_openapi`), validated like the
//! API server. Every problem is a [`Diagnostic`] carrying `file:line:col` and a field path; all of them are
//! collected in one run. Pure: takes file bytes, never touches the file system or a host.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};

use crate::model::SourceRef;

/// One object read from the repo.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Pod(Box<Pod>),
    Deployment(Box<Deployment>),
    ReplicaSet(Box<ReplicaSet>),
    DaemonSet(Box<DaemonSet>),
    Job(Box<Job>),
    Service(Box<Service>),
    Namespace(Box<Namespace>),
}

/// An object with where it was written. `namespace` is already defaulted (`default`) for namespaced kinds.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub object: Object,
    pub source: SourceRef,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// `file:line:col: field.path: message`
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub source: SourceRef,
    pub severity: Severity,
    /// Kubernetes-style field path, e.g. `spec.template.spec.containers[0].ports[0].containerPort`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.source, self.message)
        } else {
            write!(f, "{}: {}: {}", self.source, self.field, self.message)
        }
    }
}
