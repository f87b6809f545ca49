//! The wire types read back out of the JSON Schema, in the few shapes `schemars` gives them:
//! an object, a union of tagged variants, or a set of strings. The SDK generators render this.

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};

/// One named type of the protocol.
#[derive(Debug)]
pub(crate) struct Def {
    /// The schema name (`ExecuteRequest`).
    pub(crate) name: String,
    /// Its doc comment.
    pub(crate) doc: String,
    /// Its shape.
    pub(crate) shape: Shape,
}

/// The shape of a type.
#[derive(Debug)]
pub(crate) enum Shape {
    /// An object with named fields.
    Object(Vec<Field>),
    /// One of several objects, told apart by a tag field.
    Union {
        /// The tag's field name (`action`, `type`).
        tag: String,
        /// The variants.
        variants: Vec<Variant>,
    },
    /// One of a set of strings.
    Strings(Vec<(String, String)>),
}

/// One field of an object.
#[derive(Debug)]
pub(crate) struct Field {
    /// The wire name.
    pub(crate) name: String,
    /// Its doc comment.
    pub(crate) doc: String,
    /// Its type.
    pub(crate) ty: Ty,
    /// Whether every message has it.
    pub(crate) required: bool,
}

/// One variant of a union: the tag's value, and either another type's fields or its own.
#[derive(Debug)]
pub(crate) struct Variant {
    /// The tag's value (`execute`).
    pub(crate) tag: String,
    /// Its doc comment.
    pub(crate) doc: String,
    /// The type whose fields it carries, if it carries another type's.
    pub(crate) base: Option<String>,
    /// Its own fields, without the tag.
    pub(crate) fields: Vec<Field>,
}

/// A field's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Ty {
    /// Any JSON value.
    Any,
    /// A string.
    String,
    /// One string.
    Literal(String),
    /// A whole number.
    Integer,
    /// Any number.
    Number,
    /// `true` or `false`.
    Bool,
    /// Another named type.
    Ref(String),
    /// A list.
    Array(Box<Ty>),
    /// An object with string keys.
    Map(Box<Ty>),
    /// The type, or `null`.
    Nullable(Box<Ty>),
}

/// Every definition of the schema, in name order.
pub(crate) fn read(definitions: &Map<String, Value>) -> Result<Vec<Def>> {
    definitions
        .iter()
        .map(|(name, schema)| {
            let shape = shape(schema).with_context(|| format!("read the schema of `{name}`"))?;
            Ok(Def {
                name: name.clone(),
                doc: doc(schema),
                shape,
            })
        })
        .collect()
}

fn shape(schema: &Value) -> Result<Shape> {
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let strings = values
            .iter()
            .map(|value| {
                let text = value
                    .as_str()
                    .ok_or_else(|| anyhow!("enum of non-strings"))?;
                Ok((text.to_owned(), String::new()))
            })
            .collect::<Result<_>>()?;
        return Ok(Shape::Strings(strings));
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        if options.iter().all(|option| option.get("const").is_some()) {
            let strings = options
                .iter()
                .map(|option| {
                    let text = option["const"]
                        .as_str()
                        .ok_or_else(|| anyhow!("non-string const"))?;
                    Ok((text.to_owned(), doc(option)))
                })
                .collect::<Result<_>>()?;
            return Ok(Shape::Strings(strings));
        }
        return union(options);
    }
    Ok(Shape::Object(fields(schema, None)?))
}

fn union(options: &[Value]) -> Result<Shape> {
    let mut tag_name: Option<String> = None;
    let mut variants = Vec::new();
    for option in options {
        let properties = option
            .get("properties")
            .and_then(Value::as_object)
            .ok_or_else(|| anyhow!("a variant without properties"))?;
        let (tag, value) = properties
            .iter()
            .find_map(|(name, property)| {
                property
                    .get("const")
                    .and_then(Value::as_str)
                    .map(|value| (name, value))
            })
            .ok_or_else(|| anyhow!("a variant without a tag"))?;
        if tag_name.get_or_insert_with(|| tag.clone()) != tag {
            bail!("variants tagged by two fields: `{tag}` and another");
        }
        variants.push(Variant {
            tag: value.to_owned(),
            doc: doc(option),
            base: option.get("$ref").map(reference).transpose()?,
            fields: fields(option, Some(tag))?,
        });
    }
    let tag = tag_name.ok_or_else(|| anyhow!("a union without variants"))?;
    Ok(Shape::Union { tag, variants })
}

fn fields(schema: &Value, skip: Option<&str>) -> Result<Vec<Field>> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    properties
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != skip)
        .map(|(name, property)| {
            Ok(Field {
                name: name.clone(),
                doc: doc(property),
                ty: ty(property).with_context(|| format!("field `{name}`"))?,
                required: required.contains(&name.as_str()),
            })
        })
        .collect()
}

fn ty(schema: &Value) -> Result<Ty> {
    if let Some(target) = schema.get("$ref") {
        return Ok(Ty::Ref(reference(target)?));
    }
    if let Some(options) = schema.get("anyOf").and_then(Value::as_array) {
        let (nulls, others): (Vec<&Value>, Vec<&Value>) =
            options.iter().partition(|option| option["type"] == "null");
        return match (nulls.len(), others.as_slice()) {
            (1, [other]) => Ok(Ty::Nullable(Box::new(ty(other)?))),
            _ => bail!("an anyOf other than `T or null`"),
        };
    }
    if let Some(value) = schema.get("const").and_then(Value::as_str) {
        return Ok(Ty::Literal(value.to_owned()));
    }
    let types: Vec<&str> = match schema.get("type") {
        None => return Ok(Ty::Any),
        Some(Value::String(name)) => vec![name.as_str()],
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        Some(other) => bail!("a `type` of {other}"),
    };
    let nullable = types.contains(&"null");
    let base = match types.iter().find(|name| **name != "null").copied() {
        Some("string") => Ty::String,
        Some("integer") => Ty::Integer,
        Some("number") => Ty::Number,
        Some("boolean") => Ty::Bool,
        Some("array") => Ty::Array(Box::new(ty(schema.get("items").unwrap_or(&Value::Null))?)),
        Some("object") => match schema.get("additionalProperties") {
            Some(values) if values.is_object() => Ty::Map(Box::new(ty(values)?)),
            _ => Ty::Map(Box::new(Ty::Any)),
        },
        Some(other) => bail!("type `{other}`"),
        None => Ty::Any,
    };
    Ok(if nullable {
        Ty::Nullable(Box::new(base))
    } else {
        base
    })
}

fn reference(target: &Value) -> Result<String> {
    let text = target
        .as_str()
        .ok_or_else(|| anyhow!("a $ref that is not a string"))?;
    text.rsplit('/')
        .next()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("an empty $ref"))
}

fn doc(schema: &Value) -> String {
    schema
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
