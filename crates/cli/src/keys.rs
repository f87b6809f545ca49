//! `runnel keys` and `runnel languages`: local administration, no server needed.

use anyhow::{bail, Result};
use runnel_store::{KeyQuota, KeyScope, Store};

use crate::config::{KeysAction, KeysOptions, LanguagesOptions};

pub(crate) fn keys(options: KeysOptions) -> Result<()> {
    let store = Store::open(&options.data_dir)?;
    match options.action {
        KeysAction::Create(args) => {
            let mut quota = KeyQuota::default();
            if let Some(value) = args.max_concurrency {
                quota.max_concurrency = value;
            }
            if let Some(value) = args.rate_per_minute {
                quota.rate_per_minute = value;
            }
            if let Some(value) = args.max_wall_ms {
                quota.max_wall_ms = value;
            }
            if let Some(value) = args.max_memory_mb {
                quota.max_memory_mb = value;
            }
            if let Some(value) = args.max_sessions {
                quota.max_sessions = value;
            }
            if let Some(value) = args.max_connections {
                quota.max_connections = value;
            }
            if let Some(value) = args.cpu_ms_per_minute {
                quota.cpu_ms_per_minute = value;
            }
            if let Some(value) = args.max_total_memory_mb {
                quota.max_total_memory_mb = value;
            }
            let scope = match args.scope {
                crate::config::Scope::Tenant => KeyScope::Tenant,
                crate::config::Scope::Operator => KeyScope::Operator,
            };
            let (record, key) = store.create_key(&args.name, scope, quota)?;
            println!(
                "created {} key {} ({}); it is shown only this once:",
                scope.as_str(),
                record.id,
                record.name
            );
            println!("{key}");
        }
        KeysAction::List => {
            println!(
                "{:<24} {:<16} {:<12} {:<8} {:<9} CREATED",
                "ID", "NAME", "PREFIX", "STATE", "SCOPE"
            );
            for record in store.list_keys()? {
                let state = if record.revoked { "revoked" } else { "active" };
                println!(
                    "{:<24} {:<16} {:<12} {:<8} {:<9} {}",
                    record.id,
                    record.name,
                    record.prefix,
                    state,
                    record.scope.as_str(),
                    record.created_at
                );
            }
        }
        KeysAction::Revoke { id } => {
            if !store.revoke_key(&id)? {
                bail!("no key matches `{id}`");
            }
            println!("revoked {id}");
        }
    }
    Ok(())
}

pub(crate) fn languages(options: LanguagesOptions) -> Result<()> {
    let host = crate::config::host_dirs();
    let registry = match options.languages_dir {
        Some(dir) => runnel_languages::Registry::load_dir(&dir, &host)?,
        None => runnel_languages::Registry::embedded(&host)?,
    }
    .detect(&host);
    if options.json {
        let list: Vec<serde_json::Value> = registry
            .languages()
            .iter()
            .map(|language| {
                serde_json::json!({
                    "id": language.id, "name": language.name, "version": language.version,
                    "aliases": language.aliases, "compiled": language.compiled,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!("{:<12} {:<14} {:<20} ALIASES", "ID", "NAME", "VERSION");
    for language in registry.languages() {
        println!(
            "{:<12} {:<14} {:<20} {}",
            language.id,
            language.name,
            language.version,
            language.aliases.join(", ")
        );
    }
    Ok(())
}
