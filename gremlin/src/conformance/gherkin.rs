//! A Gherkin parser for the TinkerPop feature files: `Feature`, `Scenario`, tags, steps with
//! doc strings and tables. Only the subset the suite uses; anything else is a typed error.

use std::fmt;

/// Limits for untrusted feature text.
pub const SCENARIOS_PER_FILE_MAX: usize = 10_000;
/// Maximum steps in one scenario.
pub const STEPS_PER_SCENARIO_MAX: usize = 1_000;
/// Maximum rows in one step table.
pub const TABLE_ROWS_MAX: usize = 100_000;

/// A parsed `.feature` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Feature {
    pub name: String,
    /// Tags written before `Feature:` (they apply to every scenario).
    pub tags: Vec<String>,
    pub scenarios: Vec<Scenario>,
}

/// One `Scenario:`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    /// The scenario's own tags followed by the feature's tags.
    pub tags: Vec<String>,
    /// 1-based line of the `Scenario:` keyword.
    pub line: usize,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Whether the scenario carries `tag` (with the `@`), directly or from its feature.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// Step keyword as written (`And`/`But` are kept: their meaning is the previous keyword's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    Given,
    When,
    Then,
    And,
    But,
}

/// One step: keyword, text after the keyword, and an optional doc string or table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub keyword: Keyword,
    pub text: String,
    /// 1-based line of the step.
    pub line: usize,
    pub doc_string: Option<String>,
    /// Table rows, cells trimmed and unescaped (`\|`, `\\`, `\n`). The header is row 0.
    pub table: Vec<Vec<String>>,
}

/// A parse error with its 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GherkinError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for GherkinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for GherkinError {}

fn err(line: usize, message: impl Into<String>) -> GherkinError {
    GherkinError {
        line,
        message: message.into(),
    }
}

/// Splits a table row `| a | b\|c |` into unescaped, trimmed cells.
fn parse_row(line: &str, line_no: usize) -> Result<Vec<String>, GherkinError> {
    let body = line.trim();
    let inner = body
        .strip_prefix('|')
        .ok_or_else(|| err(line_no, "table row must start with '|'"))?;
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars();
    let mut closed = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('|') => cell.push('|'),
                Some('\\') => cell.push('\\'),
                Some('n') => cell.push('\n'),
                Some(other) => {
                    cell.push('\\');
                    cell.push(other);
                }
                None => cell.push('\\'),
            },
            '|' => {
                cells.push(cell.trim().to_string());
                cell.clear();
                closed = true;
                continue;
            }
            _ => cell.push(c),
        }
        closed = false;
    }
    if !closed && !cell.trim().is_empty() {
        return Err(err(line_no, "table row must end with '|'"));
    }
    Ok(cells)
}

fn keyword_of(line: &str) -> Option<(Keyword, &str)> {
    const KEYWORDS: [(&str, Keyword); 5] = [
        ("Given ", Keyword::Given),
        ("When ", Keyword::When),
        ("Then ", Keyword::Then),
        ("And ", Keyword::And),
        ("But ", Keyword::But),
    ];
    KEYWORDS
        .iter()
        .find_map(|(word, kw)| line.strip_prefix(word).map(|rest| (*kw, rest.trim())))
}

/// Parses one feature file.
pub fn parse_feature(text: &str) -> Result<Feature, GherkinError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut feature = Feature::default();
    let mut seen_feature = false;
    let mut pending_tags: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let raw = lines.get(i).copied().unwrap_or("");
        let line = raw.trim();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('@') {
            for tag in line.split_whitespace() {
                if tag.starts_with('#') {
                    break;
                }
                if !tag.starts_with('@') {
                    return Err(err(line_no, format!("expected a tag, found {tag:?}")));
                }
                pending_tags.push(tag.to_string());
            }
            continue;
        }
        if let Some(name) = line.strip_prefix("Feature:") {
            if seen_feature {
                return Err(err(line_no, "second Feature: in one file"));
            }
            seen_feature = true;
            feature.name = name.trim().to_string();
            feature.tags = std::mem::take(&mut pending_tags);
            continue;
        }
        if let Some(name) = line.strip_prefix("Scenario:") {
            if !seen_feature {
                return Err(err(line_no, "Scenario: before Feature:"));
            }
            if feature.scenarios.len() >= SCENARIOS_PER_FILE_MAX {
                return Err(err(line_no, "too many scenarios"));
            }
            let mut tags = std::mem::take(&mut pending_tags);
            tags.extend(feature.tags.iter().cloned());
            feature.scenarios.push(Scenario {
                name: name.trim().to_string(),
                tags,
                line: line_no,
                steps: Vec::new(),
            });
            continue;
        }
        if let Some((keyword, text)) = keyword_of(line) {
            let scenario = feature
                .scenarios
                .last_mut()
                .ok_or_else(|| err(line_no, "step outside a scenario"))?;
            if scenario.steps.len() >= STEPS_PER_SCENARIO_MAX {
                return Err(err(line_no, "too many steps"));
            }
            let mut step = Step {
                keyword,
                text: text.to_string(),
                line: line_no,
                doc_string: None,
                table: Vec::new(),
            };
            // Arguments: a doc string or a table on the following lines.
            while i < lines.len() {
                let next = lines.get(i).copied().unwrap_or("");
                let trimmed = next.trim();
                if trimmed.is_empty() || trimmed.starts_with('#') {
                    i += 1;
                    continue;
                }
                if trimmed.starts_with("\"\"\"") {
                    if step.doc_string.is_some() || !step.table.is_empty() {
                        return Err(err(i + 1, "a step takes one argument"));
                    }
                    let indent = next.len() - next.trim_start().len();
                    let open_line = i + 1;
                    i += 1;
                    let mut body: Vec<String> = Vec::new();
                    let mut closed = false;
                    while i < lines.len() {
                        let l = lines.get(i).copied().unwrap_or("");
                        i += 1;
                        if l.trim() == "\"\"\"" {
                            closed = true;
                            break;
                        }
                        // Remove up to `indent` leading spaces.
                        let strip = l
                            .char_indices()
                            .take(indent)
                            .take_while(|(_, c)| *c == ' ')
                            .count();
                        body.push(l.get(strip..).unwrap_or("").to_string());
                    }
                    if !closed {
                        return Err(err(open_line, "unterminated doc string"));
                    }
                    step.doc_string = Some(body.join("\n"));
                    continue;
                }
                if trimmed.starts_with('|') {
                    if step.doc_string.is_some() {
                        return Err(err(i + 1, "a step takes one argument"));
                    }
                    if step.table.len() >= TABLE_ROWS_MAX {
                        return Err(err(i + 1, "table too long"));
                    }
                    step.table.push(parse_row(trimmed, i + 1)?);
                    i += 1;
                    continue;
                }
                break;
            }
            scenario.steps.push(step);
            continue;
        }
        if !seen_feature || feature.scenarios.is_empty() {
            // Free-form description text after `Feature:`.
            continue;
        }
        return Err(err(line_no, format!("unexpected line {line:?}")));
    }
    if !seen_feature {
        return Err(err(lines.len().max(1), "no Feature: found"));
    }
    Ok(feature)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"# comment
@StepClassMap @StepMath
Feature: Step - math()

  Some description.

  @GraphComputerOnly
  Scenario: first
    Given the modern graph
    And the traversal of
      """
      g.V().
        values("name")
      """
    When iterated to list
    Then the result should be unordered
      | result |
      | d[1].i |
      | a\|b |
      | str[] |

  Scenario: second
    Given an unsupported test
    Then nothing should happen because
      """
      reasons
      """
"#;

    #[test]
    fn parses_tags_steps_doc_strings_and_tables() {
        let f = parse_feature(SAMPLE).expect("parses");
        assert_eq!(f.name, "Step - math()");
        assert_eq!(f.tags, vec!["@StepClassMap", "@StepMath"]);
        assert_eq!(f.scenarios.len(), 2);
        let s = &f.scenarios[0];
        assert_eq!(s.name, "first");
        assert!(s.has_tag("@GraphComputerOnly"));
        assert!(s.has_tag("@StepMath"));
        assert!(!f.scenarios[1].has_tag("@GraphComputerOnly"));
        assert_eq!(s.steps.len(), 4);
        assert_eq!(
            s.steps[1].doc_string.as_deref(),
            Some("g.V().\n  values(\"name\")")
        );
        assert_eq!(s.steps[2].keyword, Keyword::When);
        assert_eq!(
            s.steps[3].table,
            vec![
                vec!["result".to_string()],
                vec!["d[1].i".to_string()],
                vec!["a|b".to_string()],
                vec!["str[]".to_string()]
            ]
        );
        assert_eq!(s.line, 8);
    }

    #[test]
    fn rejects_broken_input() {
        assert!(parse_feature("").is_err());
        assert!(
            parse_feature("Feature: x\n  Scenario: y\n    Given a\n      \"\"\"\n  open").is_err()
        );
        assert!(parse_feature("Feature: x\n  Scenario: y\n    Given a\n      | a | b").is_err());
        assert!(parse_feature("Given a").is_err());
        let e = parse_feature("Feature: x\n  Scenario: y\n  Frobnicate").unwrap_err();
        assert_eq!(e.line, 3);
    }
}
