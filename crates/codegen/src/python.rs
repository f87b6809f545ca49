//! `clients/python/src/runnel/_messages.py`: the wire types as `TypedDict`s and `Literal`s, from the
//! schema's model, for `mypy --strict` to hold the SDK's frames to.

use std::fmt::Write as _;

use crate::model::{Def, Field, Shape, Ty, Variant};

/// The Python module.
pub(crate) fn render(defs: &[Def]) -> String {
    let mut out = String::from(
        "\"\"\"The wire types of protocol v1 (docs/protocol.md has the prose).\n\n\
         Generated from crates/protocol by ``cargo run -p runnel-codegen``: do not edit.\n\
         \"\"\"\n\n\
         from __future__ import annotations\n\n\
         from typing import Any, Literal, TypedDict\n",
    );
    // Aliases are evaluated when the module loads, so the sets of strings come first and the
    // unions last; the classes' annotations are strings and may name any of them.
    for def in defs {
        if let Shape::Strings(values) = &def.shape {
            out.push('\n');
            comment(&mut out, "", &def.doc);
            let literals: Vec<String> = values.iter().map(|(value, _)| quote(value)).collect();
            alias(&mut out, &def.name, "Literal[", &literals, "]", ", ");
        }
    }
    // A variant's class derives from the object it carries, which must be defined first.
    for def in defs {
        if let Shape::Object(fields) = &def.shape {
            class(&mut out, &def.name, &def.doc, None, None, fields);
        }
    }
    for def in defs {
        if let Shape::Union { tag, variants } = &def.shape {
            for variant in variants {
                variant_class(&mut out, &def.name, tag, variant);
            }
        }
    }
    let mut first = true;
    for def in defs {
        if let Shape::Union { variants, .. } = &def.shape {
            out.push_str(if std::mem::take(&mut first) {
                "\n\n"
            } else {
                "\n"
            });
            comment(&mut out, "", &def.doc);
            let names: Vec<String> = variants
                .iter()
                .map(|variant| crate::variant_name(&def.name, variant))
                .collect();
            alias(&mut out, &def.name, "", &names, "", " | ");
        }
    }
    out
}

fn variant_class(out: &mut String, union: &str, tag: &str, variant: &Variant) {
    let name = crate::variant_name(union, variant);
    let tag_field = Field {
        name: tag.to_owned(),
        doc: String::new(),
        ty: Ty::Literal(variant.tag.clone()),
        required: true,
    };
    class(
        out,
        &name,
        &variant.doc,
        variant.base.as_deref(),
        Some(&tag_field),
        &variant.fields,
    );
}

/// A `TypedDict`: the required fields in a base class, the others in a `total=False` one.
fn class(
    out: &mut String,
    name: &str,
    doc: &str,
    base: Option<&str>,
    tag: Option<&Field>,
    fields: &[Field],
) {
    let required: Vec<&Field> = tag
        .into_iter()
        .chain(fields.iter().filter(|field| field.required))
        .collect();
    let optional: Vec<&Field> = fields.iter().filter(|field| !field.required).collect();
    let parent = base.unwrap_or("TypedDict");
    let (first, first_parent) = if optional.is_empty() {
        (name.to_owned(), parent.to_owned())
    } else if required.is_empty() {
        (String::new(), parent.to_owned())
    } else {
        (format!("_{name}Required"), parent.to_owned())
    };
    if !first.is_empty() {
        out.push_str("\n\n");
        let _ = writeln!(out, "class {first}({first_parent}):");
        if optional.is_empty() {
            docstring(out, doc);
        }
        body(out, &required);
    }
    if !optional.is_empty() {
        let inherit = if first.is_empty() {
            first_parent
        } else {
            first
        };
        out.push_str("\n\n");
        let _ = writeln!(out, "class {name}({inherit}, total=False):");
        docstring(out, doc);
        body(out, &optional);
    }
}

fn body(out: &mut String, fields: &[&Field]) {
    if fields.is_empty() {
        out.push_str("    pass\n");
    }
    for field in fields {
        comment(out, "    ", &field.doc);
        let _ = writeln!(out, "    {}: {}", field.name, ty(&field.ty));
    }
}

fn ty(ty: &Ty) -> String {
    match ty {
        Ty::Any => "Any".to_owned(),
        Ty::String => "str".to_owned(),
        Ty::Literal(value) => format!("Literal[{}]", quote(value)),
        Ty::Integer => "int".to_owned(),
        Ty::Number => "float".to_owned(),
        Ty::Bool => "bool".to_owned(),
        Ty::Ref(name) => name.clone(),
        Ty::Array(item) => format!("list[{}]", self::ty(item)),
        Ty::Map(value) => format!("dict[str, {}]", self::ty(value)),
        Ty::Nullable(inner) => format!("{} | None", self::ty(inner)),
    }
}

/// `NAME = OPEN a, b CLOSE` on one line when it fits in 100 columns, else one item a line.
fn alias(out: &mut String, name: &str, open: &str, items: &[String], close: &str, sep: &str) {
    let line = format!("{name} = {open}{}{close}", items.join(sep));
    if line.len() <= 100 {
        let _ = writeln!(out, "{line}");
        return;
    }
    if open.is_empty() {
        let _ = writeln!(out, "{name} = (");
        for (index, item) in items.iter().enumerate() {
            let bar = if index == 0 { "" } else { "| " };
            let _ = writeln!(out, "    {bar}{item}");
        }
        out.push_str(")\n");
    } else {
        let _ = writeln!(out, "{name} = {open}");
        for item in items {
            let _ = writeln!(out, "    {item},");
        }
        let _ = writeln!(out, "{close}");
    }
}

fn docstring(out: &mut String, doc: &str) {
    if doc.is_empty() {
        return;
    }
    let doc = doc.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\"");
    let lines: Vec<&str> = doc.lines().collect();
    if let [line] = lines.as_slice() {
        let _ = writeln!(out, "    \"\"\"{line}\"\"\"\n");
        return;
    }
    let _ = writeln!(out, "    \"\"\"{}", lines[0]);
    for line in &lines[1..] {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "    {line}");
        }
    }
    out.push_str("    \"\"\"\n\n");
}

fn comment(out: &mut String, indent: &str, doc: &str) {
    for line in doc.lines() {
        if line.is_empty() {
            let _ = writeln!(out, "{indent}#:");
        } else {
            let _ = writeln!(out, "{indent}#: {line}");
        }
    }
}

fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}
