//! The status vocabulary: the condition types a DiceService reports and every reason they give
//! (what `kubectl describe`, Events and alerts on the operator read).

pub const READY: &str = "Ready";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";
/// Every monitoring child the spec asks for is applied.
pub const MONITORING_READY: &str = "MonitoringReady";

/// Why a condition has its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Ready: every desired replica is ready.
    AllReplicasReady,
    /// Ready: a rollout is under way or pods are missing.
    ReplicasNotReady,
    /// Progressing: nothing left to roll out.
    RolloutComplete,
    /// Progressing: the Deployment is rolling out.
    RollingOut,
    /// Degraded: nothing wrong.
    AsExpected,
    /// Degraded: the spec breaks a rule the schema cannot express.
    InvalidSpec,
    /// Degraded: an object under a child's name belongs to somebody else.
    ChildNotOwned,
    /// Degraded (a required child) or MonitoringReady (a monitoring one): the API server
    /// refused it.
    ChildRejected,
    /// MonitoringReady: the Prometheus Operator kinds are not served.
    PrometheusOperatorCRDsMissing,
    /// MonitoringReady: a Secret (or key) alerting or history refers to is missing.
    SecretMissing,
    /// MonitoringReady: every monitoring child is applied.
    Applied,
}

impl Reason {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AllReplicasReady => "AllReplicasReady",
            Self::ReplicasNotReady => "ReplicasNotReady",
            Self::RolloutComplete => "RolloutComplete",
            Self::RollingOut => "RollingOut",
            Self::AsExpected => "AsExpected",
            Self::InvalidSpec => "InvalidSpec",
            Self::ChildNotOwned => "ChildNotOwned",
            Self::ChildRejected => "ChildRejected",
            Self::PrometheusOperatorCRDsMissing => "PrometheusOperatorCRDsMissing",
            Self::SecretMissing => "SecretMissing",
            Self::Applied => "Applied",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<Reason> for String {
    fn eq(&self, reason: &Reason) -> bool {
        self == reason.as_str()
    }
}
