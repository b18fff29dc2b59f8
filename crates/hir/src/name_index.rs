//! [`Names`]: a set of names (steps, parameters, a step's inputs, …) indexed for "did you
//! mean", so that many unresolved names against many candidates do not cost every name
//! compared with every candidate.
//!
//! [`Names::closest`] returns exactly what [`crate::diagnostics::suggest`] (the reference)
//! returns for the same names: the candidate at the smallest distance, 0 for an
//! ASCII-case-insensitive match and otherwise the optimal string alignment distance (edits
//! and adjacent transpositions), at most `max(len / 3, 1)` for a query of `len` characters,
//! the smallest string on a tie; nothing for a query over [`MAX_SUGGEST_LEN`] characters.
//!
//! How:
//! * distance 0 is a map from the ASCII-lowercased name to the smallest name folding to it;
//! * the rest is a walk of a radix trie of the names, in lexicographic order, that computes
//!   one column of the distance table per trie character, shared by every name below it,
//!   and only within the bound of the diagonal (cells farther cannot be within it). A
//!   subtree is left as soon as a lower bound on the distance of every name in it (a cell
//!   of the column plus the difference between the query's unread length and the lengths
//!   of the subtree's names) is above the bound, or not below the best distance found so far
//!   (names come in order, so a later one must be strictly closer). A leaf whose label is
//!   long is first checked against the bag bound (characters one side has more of than
//!   the other each cost an edit), which rejects unrelated names without the table;
//! * the bound grows in passes (1, 2, then the limit): a typo is found at its distance
//!   without exploring what lies farther.
//!
//! Names that share prefixes (generated pipelines: `step_00042`, `train_fold_3`) share
//! most of the table, and names of other lengths are left at the root. The cost that
//! stays is for names that share nothing and have the query's length (random or hashed
//! names): every one is still visited, though with the bag bound at a fraction of the
//! reference's cost.
//!
//! A set of at most [`SCAN_MAX`] names is cheaper to scan with the reference than to index.

use std::collections::HashMap;

use crate::diagnostics::MAX_SUGGEST_LEN;

/// Up to this many candidates, scanning them with [`crate::diagnostics::suggest`] costs
/// less than building a [`Names`]; callers that hold a small list scan it.
pub(crate) const SCAN_MAX: usize = 32;

/// Longest candidate (in characters) that can be within the largest limit of a query of
/// [`MAX_SUGGEST_LEN`] characters; longer names are never suggested and stay out of the trie.
const MAX_CANDIDATE_LEN: usize = MAX_SUGGEST_LEN + MAX_SUGGEST_LEN / 3;

/// No name ends at a trie node.
const NONE: u32 = u32::MAX;

/// A leaf's label at least this long is checked against the bag bound before its table.
const BAG_MIN_LABEL: usize = 4;

/// From this bound on, the bag bound is worth its cost at a leaf; below it the table
/// leaves an unrelated name within a few characters.
const BAG_MIN_BOUND: usize = 6;

/// One node of the radix trie, in preorder: its edge label, the range of lengths of the
/// names below it, where its subtree ends, and the name that ends here.
#[derive(Clone, Debug)]
struct Node {
    /// The label's first character in [`Names::chars`].
    label: u32,
    /// Index (in preorder) after the subtree.
    end: u32,
    /// The name (index into [`Names::names`]) that ends at this node, or [`NONE`].
    terminal: u32,
    /// Depth (characters from the root) where the label starts.
    from: u8,
    /// Depth where it ends: the node's depth.
    to: u8,
    /// Shortest name in the subtree, in characters.
    min_len: u8,
    /// Longest.
    max_len: u8,
}

/// A set of names, sorted, with an index for [`Names::closest`].
#[derive(Clone, Debug, Default, salsa::SalsaValue)]
pub struct Names {
    /// Every name once, in byte order.
    names: Vec<String>,
    /// ASCII-lowercased name → the smallest name with that folding (names of at most
    /// [`MAX_SUGGEST_LEN`] characters: a longer query gets no suggestion).
    folded: HashMap<Box<str>, u32>,
    /// The characters of the names in the trie, one name after the other.
    chars: Vec<char>,
    /// The trie, in preorder; empty when no name is short enough to be suggested.
    nodes: Vec<Node>,
}

/// Equal when the names are: the rest is a function of them. (Salsa compares a re-run
/// query's result with the last to backdate it; this keeps that to the names.)
impl PartialEq for Names {
    fn eq(&self, other: &Names) -> bool {
        self.names == other.names
    }
}

impl Eq for Names {}

impl Names {
    /// The index of `names` (a repeated name is kept once).
    pub fn new<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Names {
        let mut names: Vec<String> = names.into_iter().map(Into::into).collect();
        names.sort_unstable();
        names.dedup();
        let mut folded = HashMap::new();
        let mut chars = Vec::new();
        // Where each name of the trie is in `chars`, and its index in `names`.
        let mut spans: Vec<(u32, u32)> = Vec::new();
        let mut ids: Vec<u32> = Vec::new();
        for (i, name) in names.iter().enumerate() {
            // (4 bytes at most per character: a longer name has too many characters.)
            if name.len() > 4 * MAX_CANDIDATE_LEN {
                continue;
            }
            let start = chars.len();
            chars.extend(name.chars());
            let len = chars.len() - start;
            if len > MAX_CANDIDATE_LEN {
                chars.truncate(start);
                continue;
            }
            let i = u32::try_from(i).unwrap_or(NONE);
            if len <= MAX_SUGGEST_LEN {
                // Names come sorted: the first with a folding is the smallest.
                folded.entry(name.to_ascii_lowercase().into_boxed_str()).or_insert(i);
            }
            spans.push((u32::try_from(start).unwrap_or(NONE), len as u32));
            ids.push(i);
        }
        let mut nodes = Vec::new();
        if !ids.is_empty() {
            Builder { chars: &chars, spans: &spans, ids: &ids, nodes: &mut nodes }.build(
                0,
                ids.len(),
                0,
                0,
            );
        }
        Names { names, folded, chars, nodes }
    }

    /// How many names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names, in byte order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The name closest to `name`: what [`crate::diagnostics::suggest`] would choose from
    /// these names.
    pub fn closest(&self, name: &str) -> Option<&str> {
        self.closest_with(name, BAG_MIN_BOUND)
    }

    /// [`Names::closest`], with the bag bound used from bound `bag_from` on (the tests use
    /// it at every bound: the answer must not depend on it).
    fn closest_with(&self, name: &str, bag_from: usize) -> Option<&str> {
        if name.len() > 4 * MAX_SUGGEST_LEN {
            return None;
        }
        let query: Vec<char> = name.chars().collect();
        if query.len() > MAX_SUGGEST_LEN {
            return None;
        }
        if let Some(&i) = self.folded.get(name.to_ascii_lowercase().as_str()) {
            return Some(&self.names[i as usize]);
        }
        let limit = (query.len() / 3).max(1);
        let mut search = Search::new(self, &query, bag_from);
        for bound in [1, 2, limit] {
            if bound > limit {
                break;
            }
            if let Some(i) = search.run(bound) {
                return Some(&self.names[i as usize]);
            }
            if bound == limit {
                break;
            }
        }
        None
    }
}

/// Builds the trie from the sorted names' characters.
struct Builder<'a> {
    chars: &'a [char],
    spans: &'a [(u32, u32)],
    ids: &'a [u32],
    nodes: &'a mut Vec<Node>,
}

impl Builder<'_> {
    fn name(&self, k: usize) -> &[char] {
        let (start, len) = self.spans[k];
        &self.chars[start as usize..][..len as usize]
    }

    /// Adds the node of names `lo..hi`, which share their first `to` characters and are
    /// reached by the label from depth `from` (read in name `lo`), and its subtree.
    /// Returns the shortest and longest of those names' lengths.
    fn build(&mut self, mut lo: usize, hi: usize, from: usize, to: usize) -> (u8, u8) {
        let at = self.nodes.len();
        // Depths and lengths are at most `MAX_CANDIDATE_LEN`, so fit a byte.
        self.nodes.push(Node {
            label: self.spans[lo].0 + from as u32,
            end: 0,
            terminal: NONE,
            from: from as u8,
            to: to as u8,
            min_len: 0,
            max_len: 0,
        });
        let (mut min_len, mut max_len) = (u8::MAX, 0);
        if self.name(lo).len() == to {
            self.nodes[at].terminal = self.ids[lo];
            (min_len, max_len) = (to as u8, to as u8);
            lo += 1;
        }
        while lo < hi {
            let c = self.name(lo)[to];
            let mut next = lo + 1;
            while next < hi && self.name(next)[to] == c {
                next += 1;
            }
            // Sorted: what the first and the last of the run share, all of it shares.
            let (first, last) = (self.name(lo), self.name(next - 1));
            let shared = first.iter().zip(last).take_while(|(a, b)| a == b).count();
            let (lo_len, hi_len) = self.build(lo, next, to, shared);
            min_len = min_len.min(lo_len);
            max_len = max_len.max(hi_len);
            lo = next;
        }
        let end = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        let node = &mut self.nodes[at];
        (node.min_len, node.max_len, node.end) = (min_len, max_len, end);
        (min_len, max_len)
    }
}

/// Histogram bucket of a character, for the bag bound: ASCII as itself, the rest hashed
/// among the same 128 (characters sharing a bucket only make the bound lower).
fn bucket(c: char) -> usize {
    let c = c as u32;
    if c < 128 { c as usize } else { (c.wrapping_mul(0x9E37_79B1) >> 25) as usize }
}

/// One query's walk of the trie: the distance table by trie depth, one column per
/// character of the path from the root.
struct Search<'a> {
    names: &'a Names,
    query: &'a [char],
    /// `cols[t * (m + 1) + i]`: distance between the path's first `t` characters and the
    /// query's first `i`, for the cells within the pass's bound of the diagonal (the
    /// others are not kept current).
    cols: Vec<u8>,
    /// The path's characters.
    path: Vec<char>,
    /// How many of the query's characters fall in each [`bucket`].
    hist: [u8; 128],
    /// The least bound at which leaves get the bag bound ([`BAG_MIN_BOUND`]).
    bag_from: usize,
}

impl<'a> Search<'a> {
    fn new(names: &'a Names, query: &'a [char], bag_from: usize) -> Search<'a> {
        let m = query.len();
        let mut cols = vec![0u8; (MAX_CANDIDATE_LEN + 1) * (m + 1)];
        for (i, c) in cols[..=m].iter_mut().enumerate() {
            // (`m` is at most `MAX_SUGGEST_LEN`.)
            *c = i as u8;
        }
        let mut hist = [0u8; 128];
        for &c in query {
            hist[bucket(c)] += 1;
        }
        Search { names, query, cols, path: vec!['\0'; MAX_CANDIDATE_LEN], hist, bag_from }
    }

    /// The first name (in order) at the smallest distance, if one is within `bound`.
    fn run(&mut self, bound: usize) -> Option<u32> {
        let nodes = &self.names.nodes;
        let m = self.query.len();
        let stride = m + 1;
        // Outside the band a cell is above the bound; this stands for it at the band's
        // edges, so the cells inside never read a stale one.
        let far = (bound + 1) as u8;
        let root = nodes.first()?;
        if m + bound < usize::from(root.min_len) || m > usize::from(root.max_len) + bound {
            return None;
        }
        let mut best: Option<(usize, u32)> = None;
        if root.terminal != NONE && m <= bound {
            // The empty name.
            best = Some((m, root.terminal));
        }
        let mut k = 1;
        while k < nodes.len() {
            let node = &nodes[k];
            // A name below must be within the bound, and beat the best so far (it comes later).
            let cut = best.map_or(bound, |(d, _)| d.saturating_sub(1));
            let (from, to) = (usize::from(node.from), usize::from(node.to));
            let label = &self.names.chars[node.label as usize..][..to - from];
            if node.end as usize == k + 1
                && label.len() >= BAG_MIN_LABEL
                && bound >= self.bag_from
                && self.leaf_bound(from, label, bound) > cut
            {
                k += 1;
                continue;
            }
            let (lo, hi) = (usize::from(node.min_len), usize::from(node.max_len));
            let mut pruned = false;
            for (t, &c) in (from + 1..=to).zip(label) {
                self.path[t - 1] = c;
                if self.column(t, c, bound, far, lo, hi) > cut {
                    pruned = true;
                    break;
                }
            }
            if pruned {
                k = node.end as usize;
                continue;
            }
            // The last row is in the band when the lengths differ by at most the bound.
            if node.terminal != NONE && m.abs_diff(to) <= bound {
                let d = usize::from(self.cols[to * stride + m]);
                if d <= cut {
                    best = Some((d, node.terminal));
                    if d == 1 {
                        // Nothing closer is left: 0 was the case-folded map.
                        return best.map(|(_, i)| i);
                    }
                }
            }
            k += 1;
        }
        best.map(|(_, i)| i)
    }

    /// Computes column `t` (the path's character `c` at depth `t`, the columns before it
    /// current) within `bound` of the diagonal, for a subtree whose names have `lo..=hi`
    /// characters, and returns a lower bound on the distance of each of those names.
    fn column(&mut self, t: usize, c: char, bound: usize, far: u8, lo: usize, hi: usize) -> usize {
        let m = self.query.len();
        let stride = m + 1;
        let prev_c = if t >= 2 { self.path[t - 2] } else { '\0' };
        let (done, rest) = self.cols.split_at_mut(t * stride);
        let col = &mut rest[..stride];
        let prev = &done[(t - 1) * stride..];
        let first = t.saturating_sub(bound).max(1);
        let last = (t + bound).min(m);
        // (`t` is at most `MAX_CANDIDATE_LEN`.)
        col[first - 1] = if first == 1 { t as u8 } else { far };
        if last < m {
            col[last + 1] = far;
        }
        // What aligning the query's unread rest with a name's costs at least: the
        // difference of their lengths.
        let (rest_lo, rest_hi) = (lo - t, hi - t);
        let gap = |i: usize| {
            let r = m - i;
            if r < rest_lo { rest_lo - r } else { r.saturating_sub(rest_hi) }
        };
        let mut low = usize::from(col[first - 1]) + gap(first - 1);
        for i in first..=last {
            let q = self.query[i - 1];
            let mut v = (prev[i] + 1).min(col[i - 1] + 1).min(prev[i - 1] + u8::from(q != c));
            if t >= 2 && i >= 2 && q == prev_c && self.query[i - 2] == c {
                v = v.min(done[(t - 2) * stride + i - 2] + 1);
            }
            col[i] = v;
            low = low.min(usize::from(v) + gap(i));
        }
        // A path can also step over this column by a transposition, from cell (i - 2,
        // t - 1) to (i, t + 1) at a cost of one; it costs no less than the way through
        // cell (i - 1, t) (at most one more than the first), which leaves the same lengths
        // unread on both sides: so the bound holds for such paths too.
        low
    }

    /// A lower bound on the distance between the query and the one name below a leaf,
    /// whose path to depth `from` has its column current and whose rest is `label`: the
    /// least, over the query's rows `i`, of the column's cell plus the bag distance
    /// between the query's rest and the label (each character one has more of than the
    /// other costs an edit). Cells outside the band are above `bound` and not looked at.
    fn leaf_bound(&self, from: usize, label: &[char], bound: usize) -> usize {
        let m = self.query.len();
        let col = &self.cols[from * (m + 1)..][..=m];
        let mut have = [0u8; 128];
        for &c in label {
            have[bucket(c)] += 1;
        }
        // Characters of the whole query the label lacks, and of the label the query lacks.
        let mut want = self.hist;
        let mut query_more = 0usize;
        for (w, h) in want.iter().zip(&have) {
            query_more += usize::from(w.saturating_sub(*h));
        }
        let mut label_more = label.len() - (m - query_more);
        let first = from.saturating_sub(bound);
        let last = (from + bound).min(m);
        let mut low = usize::MAX;
        for (i, &cell) in col[..=last].iter().enumerate() {
            if i >= first {
                low = low.min(usize::from(cell) + query_more.max(label_more));
            }
            if let Some(&q) = self.query.get(i) {
                // Query character `i` leaves the query's rest.
                let b = bucket(q);
                if want[b] > have[b] {
                    query_more -= 1;
                } else {
                    label_more += 1;
                }
                want[b] -= 1;
            }
        }
        // A path can also cross depth `from` by transposing the path's last character with
        // the label's first, skipping this column; such a path costs at least one less
        // than the bound above says.
        let jump = from >= 1
            && self.query.windows(2).any(|w| w[0] == label[0] && w[1] == self.path[from - 1]);
        if jump { low.saturating_sub(1) } else { low }
    }
}

#[cfg(test)]
mod tests {
    use super::Names;
    use crate::diagnostics::{MAX_SUGGEST_LEN, suggest};

    /// xorshift64: random enough for test data, and the same every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    /// Small alphabets make close names likely; upper and lower case test the folding;
    /// `é` and `日` test characters of several bytes (and the hashed histogram buckets).
    const ALPHABETS: [&[char]; 5] = [
        &['a', 'b'],
        &['a', 'b', 'c', 'A', 'B'],
        &['x', 'y', 'é', 'Z', 'z', '_', '1', '日'],
        &['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'],
        &['s', 't', 'e', 'p', '_', '0', '1', '2', '3'],
    ];

    fn word(r: &mut Rng, alphabet: &[char], max_len: usize) -> String {
        let len = r.below(max_len + 1);
        (0..len).map(|_| alphabet[r.below(alphabet.len())]).collect()
    }

    /// `name` after a few random edits: deletions, insertions, transpositions, changes
    /// (some only of case).
    fn mutated(r: &mut Rng, name: &str, alphabet: &[char]) -> String {
        let mut c: Vec<char> = name.chars().collect();
        for _ in 0..r.below(5) {
            match r.below(4) {
                0 if !c.is_empty() => {
                    let at = r.below(c.len());
                    c.remove(at);
                }
                1 => {
                    let (at, new) = (r.below(c.len() + 1), alphabet[r.below(alphabet.len())]);
                    c.insert(at, new);
                }
                2 if c.len() > 1 => {
                    let at = r.below(c.len() - 1);
                    c.swap(at, at + 1);
                }
                3 if !c.is_empty() => {
                    let at = r.below(c.len());
                    c[at] = match r.below(2) {
                        0 => c[at].to_ascii_uppercase(),
                        _ => alphabet[r.below(alphabet.len())],
                    };
                }
                _ => {}
            }
        }
        c.into_iter().collect()
    }

    /// The property: for random names and random queries (many of them near a name), the
    /// index answers what the reference does.
    #[test]
    fn the_index_answers_what_suggest_does() {
        let mut r = Rng(0x5eed_1234_abcd_0042);
        let mut compared = 0;
        for _ in 0..1_200 {
            let alphabet = ALPHABETS[r.below(ALPHABETS.len())];
            // Up to past the longest name a query of the longest length can be close to.
            let max_len = [3, 8, 20, 40, MAX_SUGGEST_LEN + 30][r.below(5)];
            let count = [0, 1, 5, 40, 150][r.below(5)];
            let candidates: Vec<String> =
                (0..count).map(|_| word(&mut r, alphabet, max_len)).collect();
            let index = Names::new(candidates.iter().map(String::as_str));
            for _ in 0..10 {
                let query = match candidates.len() {
                    0 => word(&mut r, alphabet, max_len),
                    n => match r.below(3) {
                        0 => word(&mut r, alphabet, max_len),
                        _ => {
                            let near = &candidates[r.below(n)];
                            mutated(&mut r, near, alphabet)
                        }
                    },
                };
                let want = suggest(&query, candidates.iter().map(String::as_str));
                assert_eq!(index.closest(&query), want, "{query:?} among {candidates:?}");
                // With the bag bound at every bound (it prunes more, so must stay exact).
                assert_eq!(index.closest_with(&query, 0), want, "{query:?} among {candidates:?}");
                compared += 1;
            }
        }
        assert_eq!(compared, 12_000);
    }

    /// Names that share long prefixes, as generated pipelines have, with ties to break.
    #[test]
    fn shared_prefixes_and_ties() {
        let names: Vec<String> = (0..2_000).map(|i| format!("step_{i:04}")).collect();
        let index = Names::new(names.iter().map(String::as_str));
        for query in [
            "step_0001",
            "STEP_0001",
            "step_001",
            "stpe_0001",
            "step_10x",
            "step_",
            "xyz",
            "step_19999",
            "s",
            "",
        ] {
            let want = suggest(query, names.iter().map(String::as_str));
            assert_eq!(index.closest(query), want, "{query:?}");
        }
        // At distance 1 of `step_0001`..`step_0009` and more: the smallest wins.
        assert_eq!(index.closest("step_000"), Some("step_0000"));
        assert_eq!(index.closest("Step_0007"), Some("step_0007"));
    }

    /// The best alignment transposes the last character the names share (`B` of `AB`)
    /// with the first of a leaf's label (`c` of `cbac`): a bound taken at the column
    /// between them must allow for the path that steps over it.
    #[test]
    fn a_transposition_across_a_leaf() {
        let names = ["ABbbac", "ABcbac"];
        assert_eq!(suggest("ccBbac", names), Some("ABcbac"));
        let index = Names::new(names);
        assert_eq!(index.closest_with("ccBbac", 0), Some("ABcbac"));
        assert_eq!(index.closest("ccBbac"), Some("ABcbac"));
    }

    #[test]
    fn bounds_of_length_and_size() {
        let long = "n".repeat(MAX_SUGGEST_LEN);
        let longer = format!("{long}{}", "n".repeat(MAX_SUGGEST_LEN / 3));
        let too_long = format!("{longer}n");
        let huge = "k".repeat(5 << 20);
        let index = Names::new([long.as_str(), longer.as_str(), too_long.as_str(), huge.as_str()]);
        assert_eq!(index.len(), 4);
        // A query at the cap is compared; one past it is not, even with an exact match.
        assert_eq!(index.closest(&format!("{}m", &long[1..])), Some(long.as_str()));
        assert_eq!(index.closest(&format!("{long}n")), None);
        assert_eq!(index.closest(&huge), None);
        // Every name of the index is listed, in order, even those never suggested.
        let listed: Vec<&str> = index.iter().collect();
        assert_eq!(listed, [huge.as_str(), long.as_str(), longer.as_str(), too_long.as_str()]);
        assert_eq!(Names::new(Vec::<String>::new()).closest("x"), None);
        assert_eq!(Names::new([""]).closest("x"), Some(""));
    }
}
