//! Server-side apply of every child with the one field manager, skipping children the watches
//! already show up to date, deleting children switched off in the spec, and reporting what
//! became of each monitoring one.

use crate::children::Children;
use crate::controller::observed::ObservedChildren;
use crate::controller::ownership;
use crate::crd::ChildStatus;
use crate::served::ServedKinds;
use crate::validate::Validated;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use run::Run;

pub use requests::{apply, delete};

mod requests;
mod run;

/// What one reconcile's applies came to.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Requests sent (lookups, applies and deletes); children already up to date cost none.
    pub sent: usize,
    pub outcome: Outcome,
}

impl Applied {
    /// The Deployment as the server holds it, when every required child was applied.
    pub fn deployment(&self) -> Option<&Deployment> {
        match &self.outcome {
            Outcome::Applied { deployment, .. } => Some(deployment),
            Outcome::NotOwned(_) | Outcome::Refused(_) => None,
        }
    }
}

/// The children as the API server holds them after the reconcile; one sentence per child
/// in the blocked cases.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every required child applied; one entry per monitoring child the spec asks for.
    Applied {
        deployment: Box<Deployment>,
        monitoring: Vec<ChildStatus>,
    },
    /// Objects under a child's name belong to somebody else; nothing was applied.
    NotOwned(Vec<String>),
    /// The API server refused these required children for good (`422 Invalid`, an admission
    /// webhook): retrying the same spec cannot help. The others were applied.
    Refused(Vec<String>),
}

/// Applies each child that differs from what is observed, in the kinds' list order, unless an
/// object under one of their names is not this DiceService's.
pub async fn apply_children(
    client: &Client,
    service: &Validated,
    children: &Children,
    observed: &ObservedChildren,
    served: &ServedKinds,
) -> Result<Applied, kube::Error> {
    let claims = ownership::not_owned(client, service, children, observed, served).await?;
    if !claims.foreign.is_empty() {
        return Ok(Applied {
            sent: claims.lookups,
            outcome: Outcome::NotOwned(claims.foreign),
        });
    }
    let mut run = Run::new(client, &observed.schemas, service, served, claims.lookups);
    children.visit_pairs(&observed.stores, &mut run).await;
    let finished = run.finish()?;
    // Without a refusal, the Deployment was applied (or seen up to date).
    let outcome = match finished.deployment {
        Some(deployment) if finished.refused.is_empty() => Outcome::Applied {
            deployment: Box::new(deployment),
            monitoring: finished.monitoring,
        },
        _ => Outcome::Refused(finished.refused),
    };
    Ok(Applied {
        sent: finished.sent,
        outcome,
    })
}
