//! The one topological sort: dependencies before their dependents, ties to the lowest
//! rank, and on a cycle, the cycle itself. Works on node indices, so that each caller
//! numbers its nodes the cheap way it can (the solver by interned name, a list of
//! modules by position).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Orders nodes `0..rank.len()` so that each comes after every node `deps(i)` yields (its
/// dependencies), taking the ready node of lowest `rank[i]` first. On a cycle, returns
/// one as `[a, b, …, a]`: from the lowest-ranked node left over, each step to its
/// lowest-ranked dependency left over, until a node repeats.
pub(super) fn order<I: IntoIterator<Item = usize>>(deps: impl Fn(usize) -> I, rank: &[usize]) -> Result<Vec<usize>, Vec<usize>> {
    let n = rank.len();
    let mut indegree = vec![0usize; n];
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (node, count) in indegree.iter_mut().enumerate() {
        for dep in deps(node) {
            *count += 1;
            dependents[dep].push(node);
        }
    }
    let mut ready: BinaryHeap<Reverse<(usize, usize)>> = (0..n).filter(|&i| indegree[i] == 0).map(|i| Reverse((rank[i], i))).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse((_, next))) = ready.pop() {
        order.push(next);
        for &dependent in &dependents[next] {
            indegree[dependent] -= 1;
            if indegree[dependent] == 0 {
                ready.push(Reverse((rank[dependent], dependent)));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left over has a dependency left over: walking them must repeat one.
    let left = |i: usize| indegree[i] > 0;
    let lowest = |nodes: &mut dyn Iterator<Item = usize>| nodes.filter(|&i| left(i)).min_by_key(|&i| rank[i]);
    let Some(start) = lowest(&mut (0..n)) else { return Err(Vec::new()) };
    let mut path = vec![start];
    let mut at = vec![usize::MAX; n];
    at[start] = 0;
    let mut current = start;
    loop {
        let Some(next) = lowest(&mut deps(current).into_iter()) else { return Err(path) };
        if at[next] != usize::MAX {
            let mut cycle = path.split_off(at[next]);
            cycle.push(next);
            return Err(cycle);
        }
        at[next] = path.len();
        path.push(next);
        current = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_first_ties_by_rank() {
        // 0 needs 2; 1 needs nothing; 2 needs 1. Ranks make 1 the first choice among equals.
        let deps: Vec<Vec<usize>> = vec![vec![2], vec![], vec![1], vec![]];
        let of = |i: usize| deps[i].clone();
        assert_eq!(order(of, &[0, 1, 2, 3]), Ok(vec![1, 2, 0, 3]));
        assert_eq!(order(of, &[3, 2, 1, 0]), Ok(vec![3, 1, 2, 0]));
    }

    #[test]
    fn a_cycle_is_returned_as_a_loop() {
        // 0 -> 1 -> 2 -> 1, and 3 needs 0.
        let deps: Vec<Vec<usize>> = vec![vec![1], vec![2], vec![1], vec![0]];
        assert_eq!(order(|i| deps[i].clone(), &[0, 1, 2, 3]), Err(vec![1, 2, 1]));
        assert_eq!(order(|_| [0], &[0]), Err(vec![0, 0]));
    }
}
