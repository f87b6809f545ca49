//! `clients/js/src/protocol.ts`: the wire types as TypeScript, from the schema's model.

use std::fmt::Write as _;

use crate::model::{Def, Field, Shape, Ty, Variant};

/// The TypeScript module.
pub(crate) fn render(defs: &[Def]) -> String {
    let mut out = String::from(
        "// Generated from crates/protocol by `cargo run -p runnel-codegen`: do not edit.\n\
         // The wire types of protocol v1 (snake_case, as sent); docs/protocol.md has the prose.\n",
    );
    for def in defs {
        out.push('\n');
        comment(&mut out, "", &def.doc);
        match &def.shape {
            Shape::Object(fields) => {
                let _ = writeln!(out, "export interface {} {{", def.name);
                members(&mut out, fields);
                out.push_str("}\n");
            }
            Shape::Strings(values) => {
                let _ = writeln!(out, "export type {} =", def.name);
                for (index, (value, doc)) in values.iter().enumerate() {
                    comment(&mut out, "  ", doc);
                    let end = if index + 1 == values.len() { ";" } else { "" };
                    let _ = writeln!(out, "  | \"{value}\"{end}");
                }
            }
            Shape::Union { tag, variants } => {
                let _ = writeln!(out, "export type {} =", def.name);
                for (index, variant) in variants.iter().enumerate() {
                    let end = if index + 1 == variants.len() { ";" } else { "" };
                    let _ = writeln!(out, "  | {}{end}", crate::variant_name(&def.name, variant));
                }
                for variant in variants {
                    out.push('\n');
                    variant_interface(&mut out, &def.name, tag, variant);
                }
            }
        }
    }
    out
}

fn variant_interface(out: &mut String, union: &str, tag: &str, variant: &Variant) {
    comment(out, "", &variant.doc);
    let name = crate::variant_name(union, variant);
    match &variant.base {
        Some(base) => {
            let _ = writeln!(out, "export interface {name} extends {base} {{");
        }
        None => {
            let _ = writeln!(out, "export interface {name} {{");
        }
    }
    let _ = writeln!(out, "  {tag}: \"{}\";", variant.tag);
    members(out, &variant.fields);
    out.push_str("}\n");
}

fn members(out: &mut String, fields: &[Field]) {
    for field in fields {
        comment(out, "  ", &field.doc);
        let optional = if field.required { "" } else { "?" };
        let _ = writeln!(out, "  {}{optional}: {};", field.name, ty(&field.ty));
    }
}

fn ty(ty: &Ty) -> String {
    match ty {
        Ty::Any => "unknown".to_owned(),
        Ty::String => "string".to_owned(),
        Ty::Literal(value) => format!("\"{value}\""),
        Ty::Integer | Ty::Number => "number".to_owned(),
        Ty::Bool => "boolean".to_owned(),
        Ty::Ref(name) => name.clone(),
        Ty::Array(item) => match item.as_ref() {
            Ty::Nullable(_) => format!("Array<{}>", self::ty(item)),
            _ => format!("{}[]", self::ty(item)),
        },
        Ty::Map(value) => format!("Record<string, {}>", self::ty(value)),
        Ty::Nullable(inner) => format!("{} | null", self::ty(inner)),
    }
}

fn comment(out: &mut String, indent: &str, doc: &str) {
    if doc.is_empty() {
        return;
    }
    let doc = doc.replace("*/", "*\\/");
    let lines: Vec<&str> = doc.lines().collect();
    if let [line] = lines.as_slice() {
        let _ = writeln!(out, "{indent}/** {line} */");
        return;
    }
    let _ = writeln!(out, "{indent}/**");
    for line in lines {
        if line.is_empty() {
            let _ = writeln!(out, "{indent} *");
        } else {
            let _ = writeln!(out, "{indent} * {line}");
        }
    }
    let _ = writeln!(out, "{indent} */");
}
