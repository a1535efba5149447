//! [`Packed`]: several strings in one allocation, so that a long-lived record (a dialog) costs one
//! heap block however many strings it keeps.

/// `N` strings stored end to end in one `Box<str>`, with where each ends.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Packed<const N: usize> {
    text: Box<str>,
    ends: [u16; N],
}

impl<const N: usize> Packed<N> {
    /// The strings `parts`, or `None` if together they exceed 65,535 bytes (more than any
    /// message's header section holds).
    pub(super) fn new(parts: [&str; N]) -> Option<Self> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        u16::try_from(total).ok()?;
        let mut text = String::with_capacity(total);
        let mut ends = [0u16; N];
        for (end, part) in ends.iter_mut().zip(parts) {
            text.push_str(part);
            // `text.len()` is at most `total`, which fits.
            *end = text.len() as u16;
        }
        Some(Self {
            text: text.into_boxed_str(),
            ends,
        })
    }

    /// String `i` (`i < N`).
    pub(super) fn get(&self, i: usize) -> &str {
        let start = if i == 0 {
            0
        } else {
            usize::from(self.ends[i - 1])
        };
        &self.text[start..usize::from(self.ends[i])]
    }

    /// All the strings.
    pub(super) fn parts(&self) -> [&str; N] {
        std::array::from_fn(|i| self.get(i))
    }

    /// The same strings with string `i` replaced by `value`.
    pub(super) fn with(&self, i: usize, value: &str) -> Option<Self> {
        let mut parts = self.parts();
        parts[i] = value;
        Self::new(parts)
    }
}

impl<const N: usize> std::fmt::Debug for Packed<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.parts()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_back_as_stored() {
        let p = Packed::new(["call", "", "tag", "é"]).unwrap();
        assert_eq!(p.parts(), ["call", "", "tag", "é"]);
        let q = p.with(1, "local").unwrap();
        assert_eq!(q.parts(), ["call", "local", "tag", "é"]);
        let big = "x".repeat(40_000);
        assert!(Packed::new([big.as_str(), big.as_str()]).is_none());
    }
}
