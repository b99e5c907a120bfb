//! Keeps `experiments/README.md` in step: each experiment owns the text between
//! `<!-- BEGIN name -->` and `<!-- END name -->`; the rest is written by people.

/// Replaces (or appends) the block of `name` in `readme` with `body`.
pub fn replace_block(readme: &str, name: &str, body: &str) -> String {
    let begin = format!("<!-- BEGIN {name} -->");
    let end = format!("<!-- END {name} -->");
    let block = format!("{begin}\n{}\n{end}", body.trim_end());
    match (readme.find(&begin), readme.find(&end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{}{}", &readme[..b], block, &readme[e + end.len()..])
        }
        _ => {
            let mut out = readme.trim_end().to_string();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&block);
            out.push('\n');
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_its_own_block() {
        let r = "intro\n<!-- BEGIN a -->\nold\n<!-- END a -->\nmiddle\n<!-- BEGIN b -->\nb\n<!-- END b -->\n";
        let out = replace_block(r, "a", "new\n");
        assert_eq!(
            out,
            "intro\n<!-- BEGIN a -->\nnew\n<!-- END a -->\nmiddle\n<!-- BEGIN b -->\nb\n<!-- END b -->\n"
        );
        assert_eq!(replace_block(&out, "a", "new"), out);
        let added = replace_block("intro\n", "c", "c body");
        assert_eq!(added, "intro\n\n<!-- BEGIN c -->\nc body\n<!-- END c -->\n");
    }
}
