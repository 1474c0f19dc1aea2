//! Image pulls at plan time. The image back-off: a pull step whose image's last pull failed on the node says
//! so in the plan (failures, the registry's message, when the next attempt may run; the step itself waits
//! the back-off out on the host, see [`crate::runtime::pull`]). And `imagePullSecrets`, as the kubelet's
//! keyring does it: each pull step of a pod whose image's
//! registry has a credential in one of the pod's `kubernetes.io/dockerconfigjson` (or legacy
//! `kubernetes.io/dockercfg`) Secrets becomes the authenticated pull step ([`crate::runtime::pull`]). A
//! named Secret that is not in Git gets the kubelet's event in the plan and the pull goes unauthenticated.
//! Pure. The credential lives only in the step's sensitive stdin; nothing here words it.

use k8s_openapi::api::core::v1::Pod;

use super::ConfigStore;
use crate::cmd::Cmd;
use crate::controllers;
use crate::model::ObservedState;
use crate::runtime::docker::pulled_image;
use crate::runtime::pull::{Auth, auth_for, registry_of, with_auth};

/// The credentials of the pod's pull secrets, in the pod's order.
fn credentials(pod: &Pod, store: Option<&ConfigStore>, notes: &mut Vec<String>) -> Vec<Vec<u8>> {
    let ns = controllers::namespace_of(&pod.metadata);
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for r in pod
        .spec
        .iter()
        .flat_map(|s| s.image_pull_secrets.iter().flatten())
    {
        let Some(s) = store.and_then(|st| st.secret(&ns, &r.name)) else {
            missing.push(r.name.clone());
            continue;
        };
        let data = s.data.as_ref();
        match s.type_.as_deref() {
            Some("kubernetes.io/dockerconfigjson") => {
                if let Some(b) = data.and_then(|d| d.get(".dockerconfigjson")) {
                    out.push(b.0.clone());
                }
            }
            // The legacy form is the `auths` map itself.
            Some("kubernetes.io/dockercfg") => {
                if let Some(b) = data.and_then(|d| d.get(".dockercfg")) {
                    let mut v = br#"{"auths":"#.to_vec();
                    v.extend_from_slice(&b.0);
                    v.push(b'}');
                    out.push(v);
                }
            }
            _ => missing.push(r.name.clone()),
        }
    }
    if !missing.is_empty() {
        // The kubelet's FailedToRetrieveImagePullSecret event.
        notes.push(format!(
            "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
            missing.join(", ")
        ));
    }
    out
}

/// Rewrites the pod's pull steps that have a credential into their authenticated form.
pub fn authenticate(
    steps: &mut [Cmd],
    pod: &Pod,
    store: Option<&ConfigStore>,
    notes: &mut Vec<String>,
) {
    let has = pod
        .spec
        .as_ref()
        .is_some_and(|s| s.image_pull_secrets.as_ref().is_some_and(|l| !l.is_empty()));
    if !has {
        return;
    }
    let creds = credentials(pod, store, notes);
    for step in steps.iter_mut() {
        let Some(image) = pulled_image(step) else {
            continue;
        };
        let registry = registry_of(image);
        let auth: Option<Auth> = creds.iter().find_map(|c| auth_for(c, registry));
        if let Some(authed) = auth.and_then(|a| with_auth(step, &a)) {
            *step = authed;
        }
    }
}

/// The plan's word on the pod's pulls that are in the image back-off on `node`.
pub fn backoff_notes(steps: &[Cmd], node: &str, observed: &ObservedState, notes: &mut Vec<String>) {
    let Some(n) = observed.nodes.iter().find(|n| n.name == node) else {
        return;
    };
    for image in steps.iter().filter_map(pulled_image) {
        if let Some(f) = n.pull_failures.iter().find(|f| f.image == image) {
            notes.push(format!(
                "image {image}: pull failed {} time(s) on {node} ({}); image back-off: no pull before {}",
                f.failures, f.message, f.retry_after
            ));
        }
    }
}
