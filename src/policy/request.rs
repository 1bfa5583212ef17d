//! The question the gateway asks Cedar, one per field: may `Recipient::"<recipient>"`
//! `release` `Field::"<catalog name>"` in this context? The shape is the one
//! `policies/consentgate.cedarschema` declares; the loader checks that they agree.

use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision, Entities, EntityId, EntityTypeName, EntityUid, PolicySet,
    Request, RestrictedExpression, Schema,
};

use super::catalog::RecordKind;

/// Asks Cedar about one field at a time, with no entity data: everything a policy may use
/// is in the request itself.
#[derive(Debug)]
pub(super) struct Asker {
    authorizer: Authorizer,
    entities: Entities,
    action: EntityUid,
    recipient_type: EntityTypeName,
    field_type: EntityTypeName,
}

/// What the gateway knows when it decides: everything but the field.
#[derive(Debug, Clone, Copy)]
pub(super) struct Question<'a> {
    pub(super) recipient: &'a str,
    pub(super) bank: &'a str,
    pub(super) kind: RecordKind,
    /// Trimmed and lowercased.
    pub(super) purpose: &'a str,
    /// The first dotted segment of `purpose`.
    pub(super) family: &'a str,
    /// The consent's field names, as stored.
    pub(super) consent_fields: &'a [String],
    /// The consent's purposes, trimmed and lowercased.
    pub(super) consent_purposes: &'a [String],
}

/// The parts of a request shared by every field of one question.
#[derive(Debug)]
pub(super) struct Prepared {
    principal: EntityUid,
    context: Vec<(String, RestrictedExpression)>,
}

impl Asker {
    /// The entity types and action of the schema the gateway is written against.
    pub(super) fn new() -> Result<Self, String> {
        let type_name = |name: &str| {
            EntityTypeName::from_str(name).map_err(|e| format!("entity type `{name}`: {e}"))
        };
        Ok(Self {
            authorizer: Authorizer::new(),
            entities: Entities::empty(),
            action: EntityUid::from_type_name_and_id(
                type_name("Action")?,
                EntityId::new("release"),
            ),
            recipient_type: type_name("Recipient")?,
            field_type: type_name("Field")?,
        })
    }

    /// Builds the request parts that do not depend on the field.
    pub(super) fn prepare(&self, question: &Question<'_>) -> Prepared {
        let strings = |values: &[String]| {
            RestrictedExpression::new_set(
                values
                    .iter()
                    .map(|value| RestrictedExpression::new_string(value.clone())),
            )
        };
        let consent = RestrictedExpression::new_record([
            ("fields".to_string(), strings(question.consent_fields)),
            ("purposes".to_string(), strings(question.consent_purposes)),
        ]);
        let text = |value: &str| RestrictedExpression::new_string(value.to_string());
        let mut context = vec![
            ("purpose".to_string(), text(question.purpose)),
            ("purpose_family".to_string(), text(question.family)),
            ("bank".to_string(), text(question.bank)),
            ("record_kind".to_string(), text(question.kind.as_str())),
        ];
        // CAUTION: a record with two distinct keys cannot fail to build; if it ever did,
        // leaving `consent` out makes every request fail, and a failed request denies.
        if let Ok(consent) = consent {
            context.push(("consent".to_string(), consent));
        }
        Prepared {
            principal: EntityUid::from_type_name_and_id(
                self.recipient_type.clone(),
                EntityId::new(question.recipient),
            ),
            context,
        }
    }

    /// Whether Cedar allows releasing `field`. Fails closed: a request that cannot be
    /// built, or any policy that errors while evaluating, means no.
    pub(super) fn allows(&self, policies: &PolicySet, prepared: &Prepared, field: &str) -> bool {
        let Ok(request) = self.request(prepared, field, None) else {
            return false;
        };
        let response = self
            .authorizer
            .is_authorized(&request, policies, &self.entities);
        // CAUTION: Cedar skips a policy whose evaluation errors, so an erroring `forbid`
        // would not forbid. Any error therefore denies.
        response.decision() == Decision::Allow && response.diagnostics().errors().next().is_none()
    }

    /// Checks that `schema` describes exactly the requests this gateway sends, by
    /// validating one against it.
    pub(super) fn check_schema(&self, schema: &Schema, field: &str) -> Result<(), String> {
        let consent_fields = [field.to_string()];
        let consent_purposes = ["fraud_alert".to_string()];
        let prepared = self.prepare(&Question {
            recipient: "messenger",
            bank: "bank-a",
            kind: RecordKind::Transaction,
            purpose: "fraud_alert",
            family: "fraud_alert",
            consent_fields: &consent_fields,
            consent_purposes: &consent_purposes,
        });
        self.request(&prepared, field, Some(schema))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn request(
        &self,
        prepared: &Prepared,
        field: &str,
        schema: Option<&Schema>,
    ) -> Result<Request, String> {
        let mut pairs = prepared.context.clone();
        pairs.push((
            "field".to_string(),
            RestrictedExpression::new_string(field.to_string()),
        ));
        let context = Context::from_pairs(pairs).map_err(|e| e.to_string())?;
        let resource =
            EntityUid::from_type_name_and_id(self.field_type.clone(), EntityId::new(field));
        Request::new(
            prepared.principal.clone(),
            self.action.clone(),
            resource,
            context,
            schema,
        )
        .map_err(|e| e.to_string())
    }
}
