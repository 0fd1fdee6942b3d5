"""Imports every model so the metadata (create_all, Alembic) sees the whole schema."""
from onecard.alerts.models import StaffAlert, StaffAlertRecipient  # noqa: F401
from onecard.audit import AuditEntry, AuditHead  # noqa: F401
from onecard.cards.models import Card, CardApplication  # noqa: F401
from onecard.citizens.models import AssistConsent, CitizenSession, VerificationCode  # noqa: F401
from onecard.complaints.models import Complaint, ComplaintMessage, Holiday  # noqa: F401
from onecard.contacts.models import DepartmentContact  # noqa: F401
from onecard.exclusions.models import ExclusionRule  # noqa: F401
from onecard.lists.models import ListUploadReport, RecipientList, RecipientRow  # noqa: F401
from onecard.notices.models import (  # noqa: F401
    Notice,
    NoticeAttempt,
    NoticeTemplate,
    ScheduledRun,
    WechatSubscription,
)
from onecard.oversight.models import Disclosure, RiskFinding, RiskRun  # noqa: F401
from onecard.payments.models import (  # noqa: F401
    Agreement,
    ArrivalEvent,
    Batch,
    BatchLine,
    IdempotencyKey,
    LedgerEntry,
    PassbookAccount,
    PaymentReturn,
    ResultStaging,
)
from onecard.people.models import Household, ProxyAppointment, Resident, ResidentCategory  # noqa: F401
from onecard.projects.models import Project  # noqa: F401
from onecard.reference.models import Bank, Department, Town, Village  # noqa: F401
from onecard.registry.models import RegistryImport  # noqa: F401
from onecard.serving.models import BlindIndexRekey, JobHeartbeat, KeyRotationStep  # noqa: F401
from onecard.settings_store import SiteSetting  # noqa: F401
from onecard.staff.models import AuthToken, StaffAccount  # noqa: F401
