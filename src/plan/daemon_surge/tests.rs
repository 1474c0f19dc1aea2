use proptest::prelude::*;

use super::*;

fn old(available: bool) -> NodePods {
    NodePods {
        old: 1,
        old_available: available,
        new: 0,
        new_available: false,
    }
}

fn both(new_available: bool) -> NodePods {
    NodePods {
        old: 1,
        old_available: true,
        new: 1,
        new_available,
    }
}

const DONE: NodePods = NodePods {
    old: 0,
    old_available: false,
    new: 1,
    new_available: true,
};

#[test]
fn surges_at_most_max_surge_available_nodes_in_order() {
    let steps = step_math(&[old(true), old(true), old(true)], 1);
    assert_eq!(steps, vec![Step::Surge, Step::Keep, Step::Keep]);
    let steps = step_math(&[old(true), old(true), old(true)], 2);
    assert_eq!(steps, vec![Step::Surge, Step::Surge, Step::Keep]);
}

#[test]
fn a_waiting_new_pod_uses_the_surge_and_an_available_one_deletes_the_old() {
    assert_eq!(
        step_math(&[both(false), old(true)], 1),
        vec![Step::Keep, Step::Keep]
    );
    // The node whose old pod goes still counts for this plan (its delete may run after another
    // host's create), so the next node surges in the next plan.
    assert_eq!(
        step_math(&[both(true), old(true)], 1),
        vec![Step::DeleteOld, Step::Keep]
    );
    assert_eq!(
        step_math(&[both(true), old(true), old(true)], 2),
        vec![Step::DeleteOld, Step::Surge, Step::Keep]
    );
    assert_eq!(
        step_math(&[DONE, old(true)], 1),
        vec![Step::Keep, Step::Surge]
    );
}

#[test]
fn an_unavailable_old_pod_is_replaced_without_waiting_for_the_surge() {
    assert_eq!(
        step_math(&[both(false), old(false), old(true)], 1),
        vec![Step::Keep, Step::Surge, Step::Keep]
    );
}

#[test]
fn duplicates_count_as_surging() {
    let dup = NodePods {
        old: 2,
        old_available: true,
        new: 0,
        new_available: false,
    };
    assert_eq!(
        step_math(&[dup, old(true)], 1),
        vec![Step::Keep, Step::Keep]
    );
}

proptest! {
    /// Plans taken one after another, new pods becoming available at random: never more than maxSurge
    /// nodes with two pods, never a node without an available pod (maxUnavailable 0 with surge), and
    /// once every new pod is available the update ends with one new pod per node.
    #[test]
    fn the_step_sequence_keeps_every_node_served_and_ends(
        n in 1usize..7,
        max_surge in 1usize..4,
        ready in proptest::collection::vec(proptest::bool::ANY, 64),
    ) {
        let mut nodes = vec![old(true); n];
        let mut ready = ready.into_iter().chain(std::iter::repeat(true));
        for _ in 0..(4 * n + 70) {
            let steps = step_math(&nodes, max_surge);
            for (x, s) in nodes.iter_mut().zip(steps) {
                match s {
                    Step::Surge => {
                        x.new = 1;
                        x.new_available = false;
                    }
                    Step::DeleteOld => {
                        x.old = 0;
                        x.old_available = false;
                    }
                    Step::Keep => {}
                }
            }
            let surging = nodes.iter().filter(|x| x.old + x.new > 1).count();
            prop_assert!(surging <= max_surge, "{surging} > {max_surge}: {nodes:?}");
            prop_assert!(
                nodes.iter().all(|x| (x.old == 1 && x.old_available) || (x.new == 1 && x.new_available)),
                "a node without an available pod: {nodes:?}"
            );
            // Between plans, some new pods become available.
            for x in nodes.iter_mut() {
                if x.new == 1 && ready.next().unwrap_or(true) {
                    x.new_available = true;
                }
            }
        }
        prop_assert!(nodes.iter().all(|x| *x == DONE), "{nodes:?}");
    }
}
