// SPDX-License-Identifier: GPL-2.0

//! The one edit of lvm2's text metadata (the format `vgcfgbackup` writes,
//! lvm2's lib/format_text) that a switch-over commits: two linear logical
//! volumes of one size trade their physical extents. The volume being moved
//! gets the extents the copy filled, the temporary volume the old ones
//! (removed afterwards with `lvremove`, which frees them). Everything else,
//! the volume's UUID, tags and flags included, stays as it was.
//!
//! The edit is its own inverse: applying it again undoes a commit.

/// Where a linear volume's one segment lies: `stripes = [ "pv0", 12 ]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extents {
    /// The physical volume's name in the metadata (`pv0`), not a device path.
    pub pv: String,
    /// Its first physical extent.
    pub first: u64,
    /// How many extents.
    pub count: u64,
}

/// One line without its comment, trimmed. `#` starts a comment outside a
/// quoted string; `\"` does not end one.
fn code(line: &str) -> &str {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '#' if !quoted => return line[..i].trim(),
            _ => {}
        }
    }
    line.trim()
}

/// `name {` opens a section.
fn section_name(code: &str) -> Option<&str> {
    let head = code.strip_suffix('{')?.trim();
    let ok = !head.is_empty()
        && head
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+.-".contains(c));
    ok.then_some(head)
}

/// `key = value` (the value may open an array continued on later lines).
fn assignment(code: &str) -> Option<(&str, &str)> {
    let (k, v) = code.split_once('=')?;
    Some((k.trim(), v.trim()))
}

/// What the edit needs of one logical volume: its segment's extents and
/// the lines of its `stripes` statement.
struct Volume {
    segment_count: Option<u64>,
    segment_type: Option<String>,
    stripe_count: Option<u64>,
    extent_count: Option<u64>,
    /// First and last line of `stripes = [ ... ]`, and its values joined.
    stripes: Option<(usize, usize, String)>,
}

/// The metadata's top level: the volume group and its sequence number.
struct Parsed<'a> {
    lines: Vec<&'a str>,
    seqno: Option<u64>,
    volumes: Vec<(String, Volume)>,
}

fn parse(text: &str) -> Result<Parsed<'_>, String> {
    let lines: Vec<&str> = text.lines().collect();
    let mut path: Vec<&str> = Vec::new();
    let mut seqno = None;
    let mut volumes: Vec<(String, Volume)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let c = code(lines[i]);
        if c == "}" {
            if path.pop().is_none() {
                return Err(format!("line {}: '}}' closes nothing", i + 1));
            }
            i += 1;
            continue;
        }
        if let Some(name) = section_name(c) {
            path.push(name);
            // <vg> { logical_volumes { <lv> { ...
            if path.len() == 3 && path[1] == "logical_volumes" {
                volumes.push((
                    name.to_string(),
                    Volume {
                        segment_count: None,
                        segment_type: None,
                        stripe_count: None,
                        extent_count: None,
                        stripes: None,
                    },
                ));
            }
            i += 1;
            continue;
        }
        let Some((key, value)) = assignment(c) else {
            i += 1;
            continue;
        };
        // An array may span lines up to its `]`.
        let first = i;
        let mut joined = value.to_string();
        if value.starts_with('[') {
            while !code(lines[i]).ends_with(']') {
                i += 1;
                if i == lines.len() {
                    return Err(format!("line {}: '[' without ']'", first + 1));
                }
                joined.push(' ');
                joined.push_str(code(lines[i]));
            }
        }
        let in_volume = path.len() >= 3 && path[1] == "logical_volumes";
        if path.len() == 1 && key == "seqno" {
            seqno = value.parse().ok();
        } else if in_volume {
            if let Some((_, v)) = volumes.last_mut() {
                let number = value.parse().ok();
                match (path.len(), path.get(3).copied(), key) {
                    (3, _, "segment_count") => v.segment_count = number,
                    (4, Some("segment1"), "type") => {
                        v.segment_type = Some(value.trim_matches('"').to_string())
                    }
                    (4, Some("segment1"), "stripe_count") => v.stripe_count = number,
                    (4, Some("segment1"), "extent_count") => v.extent_count = number,
                    (4, Some("segment1"), "stripes") => v.stripes = Some((first, i, joined)),
                    _ => {}
                }
            }
        }
        i += 1;
    }
    if !path.is_empty() {
        return Err(format!("section '{}' is not closed", path.join("/")));
    }
    Ok(Parsed {
        lines,
        seqno,
        volumes,
    })
}

/// `[ "pv0", 12 ]` → (`pv0`, 12).
fn parse_stripes(joined: &str) -> Option<(String, u64)> {
    let inner = joined.trim().strip_prefix('[')?.strip_suffix(']')?;
    let (pv, first) = inner.split_once(',')?;
    let pv = pv.trim().strip_prefix('"')?.strip_suffix('"')?;
    Some((pv.to_string(), first.trim().parse().ok()?))
}

impl Parsed<'_> {
    fn volume(&self, name: &str) -> Result<&Volume, String> {
        self.volumes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("no logical volume '{name}' in the metadata"))
    }

    /// The extents of `name`, which must be one linear segment.
    fn linear(&self, name: &str) -> Result<(Extents, usize, usize), String> {
        let v = self.volume(name)?;
        let linear = v.segment_count == Some(1)
            && v.segment_type.as_deref() == Some("striped")
            && v.stripe_count == Some(1);
        if !linear {
            return Err(format!(
                "'{name}' is not one linear segment in the metadata (segments {:?}, type {:?}, stripes {:?})",
                v.segment_count, v.segment_type, v.stripe_count
            ));
        }
        let (Some(count), Some((from, to, joined))) = (v.extent_count, &v.stripes) else {
            return Err(format!("'{name}': segment1 has no extent_count or stripes"));
        };
        let (pv, first) = parse_stripes(joined)
            .ok_or_else(|| format!("'{name}': cannot read its stripes '{joined}'"))?;
        Ok((Extents { pv, first, count }, *from, *to))
    }
}

/// The metadata's commit sequence number (`seqno` of the volume group).
pub fn seqno(text: &str) -> Result<u64, String> {
    parse(text)?
        .seqno
        .ok_or_else(|| "the metadata has no seqno".to_string())
}

#[cfg(test)]
/// Where the linear volume `name` lies.
pub fn extents(text: &str, name: &str) -> Result<Extents, String> {
    parse(text)?.linear(name).map(|(e, _, _)| e)
}

/// The metadata with the extents of linear volumes `a` and `b` (of one
/// size) exchanged; every other line as it was.
pub fn swap_extents(text: &str, a: &str, b: &str) -> Result<String, String> {
    let p = parse(text)?;
    let (ea, a_from, a_to) = p.linear(a)?;
    let (eb, b_from, b_to) = p.linear(b)?;
    if ea.count != eb.count {
        return Err(format!(
            "'{a}' has {} extents and '{b}' {}: only volumes of one size trade places",
            ea.count, eb.count
        ));
    }
    // Statements at one depth: their lines swap as they are.
    let (first, second) = if a_from < b_from {
        ((a_from, a_to), (b_from, b_to))
    } else {
        ((b_from, b_to), (a_from, a_to))
    };
    let mut out: Vec<&str> = Vec::with_capacity(p.lines.len());
    out.extend_from_slice(&p.lines[..first.0]);
    out.extend_from_slice(&p.lines[second.0..=second.1]);
    out.extend_from_slice(&p.lines[first.1 + 1..second.0]);
    out.extend_from_slice(&p.lines[first.0..=first.1]);
    out.extend_from_slice(&p.lines[second.1 + 1..]);
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As lvm2 2.03.16's vgcfgbackup writes it (Debian 12), with the moved
    /// volume `vm7` on pv0, its temporary twin on pv1 and a volume around.
    const SAMPLE: &str = r#"# Generated by LVM2 version 2.03.16(2) (2022-05-18): Thu Dec  3 13:10:00 2026

contents = "Text Format Volume Group"
version = 1

description = "Created *after* executing 'vgcfgbackup -f /tmp/x.vg vg0 # {not a section}'"

creation_host = "host"	# Linux host 6.12.0 #1 SMP x86_64
creation_time = 1796303400	# Thu Dec  3 13:10:00 2026

vg0 {
	id = "Xb2dI0-1111-2222-3333-4444-5555-666666"
	seqno = 7
	format = "lvm2"			# informational
	status = ["RESIZEABLE", "READ", "WRITE"]
	flags = []
	extent_size = 8192		# 4 Megabytes
	max_lv = 0
	max_pv = 0
	metadata_copies = 0

	physical_volumes {

		pv0 {
			id = "aaaaaa-1111-2222-3333-4444-5555-666666"
			device = "/dev/loop1"	# Hint only

			status = ["ALLOCATABLE"]
			flags = []
			dev_size = 262144	# 128 Megabytes
			pe_start = 2048
			pe_count = 31	# 124 Megabytes
		}

		pv1 {
			id = "bbbbbb-1111-2222-3333-4444-5555-666666"
			device = "/dev/loop2"	# Hint only

			status = ["ALLOCATABLE"]
			flags = []
			dev_size = 262144	# 128 Megabytes
			pe_start = 2048
			pe_count = 31	# 124 Megabytes
		}
	}

	logical_volumes {

		other {
			id = "cccccc-1111-2222-3333-4444-5555-666666"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			creation_time = 1796303000	# 2026-12-03 13:03:20 +0000
			creation_host = "host"
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 2	# 8 Megabytes

				type = "striped"
				stripe_count = 1	# linear

				stripes = [
					"pv0", 0
				]
			}
		}

		vm7 {
			id = "dddddd-1111-2222-3333-4444-5555-666666"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			tags = ["keep"]
			creation_time = 1796303100	# 2026-12-03 13:05:00 +0000
			creation_host = "host"
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 8	# 32 Megabytes

				type = "striped"
				stripe_count = 1	# linear

				stripes = [
					"pv0", 2
				]
			}
		}

		vm7_iofollow {
			id = "eeeeee-1111-2222-3333-4444-5555-666666"
			status = ["READ", "WRITE", "VISIBLE"]
			flags = []
			tags = ["iofollow_migrate"]
			creation_time = 1796303200	# 2026-12-03 13:06:40 +0000
			creation_host = "host"
			segment_count = 1

			segment1 {
				start_extent = 0
				extent_count = 8	# 32 Megabytes

				type = "striped"
				stripe_count = 1	# linear

				stripes = [
					"pv1", 0
				]
			}
		}
	}

}
"#;

    #[test]
    fn reads_the_sequence_number_and_the_extents() {
        assert_eq!(seqno(SAMPLE), Ok(7));
        let e = |pv: &str, first, count| Extents {
            pv: pv.into(),
            first,
            count,
        };
        assert_eq!(extents(SAMPLE, "vm7"), Ok(e("pv0", 2, 8)));
        assert_eq!(extents(SAMPLE, "vm7_iofollow"), Ok(e("pv1", 0, 8)));
        assert_eq!(extents(SAMPLE, "other"), Ok(e("pv0", 0, 2)));
        assert!(extents(SAMPLE, "nope").is_err());
    }

    #[test]
    fn swapping_moves_only_the_extents_and_undoes_itself() {
        let moved = swap_extents(SAMPLE, "vm7", "vm7_iofollow").unwrap();
        assert_eq!(extents(&moved, "vm7").unwrap().pv, "pv1");
        assert_eq!(extents(&moved, "vm7").unwrap().first, 0);
        assert_eq!(extents(&moved, "vm7_iofollow").unwrap().pv, "pv0");
        assert_eq!(extents(&moved, "vm7_iofollow").unwrap().first, 2);
        assert_eq!(extents(&moved, "other"), extents(SAMPLE, "other"));
        // Only the two stripes statements differ, line for line.
        let changed: Vec<(&str, &str)> = SAMPLE
            .lines()
            .zip(moved.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(
            changed,
            vec![
                ("\t\t\t\t\t\"pv0\", 2", "\t\t\t\t\t\"pv1\", 0"),
                ("\t\t\t\t\t\"pv1\", 0", "\t\t\t\t\t\"pv0\", 2")
            ]
        );
        assert!(moved.contains("tags = [\"keep\"]"));
        assert_eq!(swap_extents(&moved, "vm7_iofollow", "vm7").unwrap(), SAMPLE);
    }

    #[test]
    fn one_line_stripes_swap_too() {
        let text = SAMPLE.replacen(
            "stripes = [\n\t\t\t\t\t\"pv0\", 2\n\t\t\t\t]",
            "stripes = [\"pv0\", 2]",
            1,
        );
        let moved = swap_extents(&text, "vm7", "vm7_iofollow").unwrap();
        assert_eq!(extents(&moved, "vm7").unwrap().pv, "pv1");
        assert_eq!(extents(&moved, "vm7_iofollow").unwrap().first, 2);
    }

    #[test]
    fn refuses_what_is_not_two_linear_volumes_of_one_size() {
        let striped = SAMPLE.replacen(
            "stripe_count = 1\t# linear\n\n\t\t\t\tstripes = [\n\t\t\t\t\t\"pv0\", 2",
            "stripe_count = 2\n\n\t\t\t\tstripes = [\n\t\t\t\t\t\"pv0\", 2",
            1,
        );
        assert!(swap_extents(&striped, "vm7", "vm7_iofollow")
            .unwrap_err()
            .contains("not one linear segment"));
        assert!(swap_extents(SAMPLE, "vm7", "other")
            .unwrap_err()
            .contains("one size"));
        let two = SAMPLE.replacen("segment_count = 1\n\n\t\t\tsegment1 {\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 8", "segment_count = 2\n\n\t\t\tsegment1 {\n\t\t\t\tstart_extent = 0\n\t\t\t\textent_count = 8", 1);
        assert!(swap_extents(&two, "vm7", "vm7_iofollow").is_err());
        assert!(parse("vg0 {\n").is_err());
        assert!(parse("}\n").is_err());
    }
}
