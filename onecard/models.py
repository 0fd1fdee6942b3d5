"""Imports every model so the metadata (create_all, Alembic) sees the whole schema."""
from onecard.audit import AuditEntry, AuditHead  # noqa: F401
from onecard.cards.models import Card, CardApplication  # noqa: F401
from onecard.lists.models import ListUploadReport, RecipientList, RecipientRow  # noqa: F401
from onecard.payments.models import ArrivalEvent, LedgerEntry  # noqa: F401
from onecard.people.models import Household, ProxyAppointment, Resident, ResidentCategory  # noqa: F401
from onecard.projects.models import Project  # noqa: F401
from onecard.reference.models import Bank, Department, Town, Village  # noqa: F401
from onecard.settings_store import SiteSetting  # noqa: F401
from onecard.staff.models import AuthToken, StaffAccount  # noqa: F401
