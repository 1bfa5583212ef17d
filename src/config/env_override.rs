//! `CONSENTGATE__SECTION__KEY=value` overrides, applied to the parsed TOML before it is
//! deserialized, so an override of an unknown key is rejected like a misspelt file key.
//!
//! The value is read as a TOML value when it parses as one (`4`, `true`, `["a", "b"]`,
//! `"quoted"`), otherwise as a plain string (`postgres://db/consentgate`). A numeric path
//! segment indexes an array of tables: `CONSENTGATE__BANKS__0__SPKI_SHA256='["…"]'`.

use super::ConfigError;

const PREFIX: &str = "CONSENTGATE__";

/// Applies every `CONSENTGATE__…` variable of `env` to `table`.
pub(super) fn apply(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut overrides: Vec<(String, String)> = env
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX))
        .collect();
    // Deterministic order, whatever order the environment lists them in.
    overrides.sort();
    for (name, value) in overrides {
        let path: Vec<String> = name
            .trim_start_matches(PREFIX)
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(env_error(&name, "has an empty path segment"));
        }
        set(table, &path, parse_value(&value)).map_err(|message| env_error(&name, &message))?;
    }
    Ok(())
}

fn parse_value(raw: &str) -> toml::Value {
    let wrapped = format!("v = {raw}");
    match wrapped.parse::<toml::Table>() {
        Ok(mut parsed) => parsed
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Err("names no key".to_string());
    };
    if rest.is_empty() {
        table.insert(first.clone(), value);
        return Ok(());
    }
    let entry = table
        .entry(first.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    set_in_value(entry, rest, value)
}

fn set_in_value(
    target: &mut toml::Value,
    path: &[String],
    value: toml::Value,
) -> Result<(), String> {
    match target {
        toml::Value::Table(table) => set(table, path, value),
        toml::Value::Array(items) => {
            let Some((index, rest)) = path.split_first() else {
                return Err("names no key".to_string());
            };
            let index: usize = index
                .parse()
                .map_err(|_| format!("`{index}` is not an index into a list"))?;
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("index {index} is past the end of the list"))?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in_value(item, rest, value)
            }
        }
        _ => Err("overrides a key inside a value that is not a table".to_string()),
    }
}

fn env_error(var: &str, message: &str) -> ConfigError {
    ConfigError::Env {
        var: var.to_string(),
        message: message.to_string(),
    }
}
