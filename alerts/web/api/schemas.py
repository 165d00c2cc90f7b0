"""Request and response bodies of the staff API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from alerts.core.models import Item, ItemTranslation, Journalist, NewsroomDefaults
from alerts.digests.schedule import format_minute
from alerts.items.rich_fields import AttachmentRef, Contact, ImageRef
from alerts.items.translations import InvalidTranslation, TranslationFields, check_language
from alerts.web.api.body import ApiBody

Kind = Literal["press_release", "report", "statement", "news"]
Language = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
Code = Field(min_length=1, max_length=64)


IMAGE = (
    "The lead photo: a stored image's `media_id` (POST /api/media), `alt` (required), "
    "`caption`, `credit`."
)
ATTACHMENTS = "Documents linked from the email (never attached): `media_id`, `title`."
NOTES = "Notes to editors (Markdown). `null`: the newsroom's default notes (/api/defaults)."
CONTACTS = "Media contacts. `null`: the newsroom's default contacts (/api/defaults)."
TRANSLATIONS = (
    "Linked translations by language code (`es`, `ar`): `title` (required), `summary`, "
    "`body`, `image_alt`, `image_caption`, `notes`, `document_titles` (by media id). A "
    "field left out is the original's. Readers get their language's, else the original."
)


class TranslationIn(ApiBody, TranslationFields):
    """A translation's words (PUT /api/items/{id}/translations/{lang})."""


class TranslationOut(BaseModel):
    language: str
    title: str
    summary: str | None
    body: str | None
    image_alt: str | None
    image_caption: str | None
    notes: str | None
    document_titles: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: ItemTranslation) -> TranslationOut:
        return cls(
            language=row.language,
            title=row.title,
            summary=row.summary,
            body=row.body,
            image_alt=row.image_alt,
            image_caption=row.image_caption,
            notes=row.notes,
            document_titles=dict(row.document_titles or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _known_languages(value: dict[str, TranslationFields] | None) -> dict[str, TranslationFields]:
    for code in value or {}:
        try:
            check_language(code)
        except InvalidTranslation as exc:
            raise ValueError(str(exc)) from exc
    return value or {}


class ItemCreate(ApiBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=500)
    summary: str = Field(default="", max_length=5_000)
    body: str = Field(default="", max_length=100_000)
    url: HttpUrl | None = None
    kind: Kind = "press_release"
    language: str = Language
    campaign: str | None = Field(default=None, max_length=300)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    countries: list[str] = Field(default_factory=list, max_length=250)
    topics: list[str] = Field(default_factory=list, max_length=100)
    image: ImageRef | None = Field(default=None, description=IMAGE)
    attachments: list[AttachmentRef] = Field(
        default_factory=list, max_length=20, description=ATTACHMENTS
    )
    notes: str | None = Field(default=None, max_length=20_000, description=NOTES)
    contacts: list[Contact] | None = Field(default=None, max_length=20, description=CONTACTS)
    translations: dict[str, TranslationFields] = Field(
        default_factory=dict, max_length=50, description=TRANSLATIONS
    )

    _languages = field_validator("translations")(_known_languages)


class ItemUpdate(ApiBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(default=None, min_length=1, max_length=500)
    summary: str | None = Field(default=None, max_length=5_000)
    body: str | None = Field(default=None, max_length=100_000)
    url: HttpUrl | None = None
    kind: Kind | None = None
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    campaign: str | None = Field(default=None, max_length=300)
    countries: list[str] | None = Field(default=None, max_length=250)
    topics: list[str] | None = Field(default=None, max_length=100)
    image: ImageRef | None = Field(default=None, description=f"{IMAGE} `null` removes it.")
    attachments: list[AttachmentRef] | None = Field(
        default=None, max_length=20, description=ATTACHMENTS
    )
    notes: str | None = Field(default=None, max_length=20_000, description=NOTES)
    contacts: list[Contact] | None = Field(default=None, max_length=20, description=CONTACTS)


class ItemOut(BaseModel):
    id: int
    external_id: str | None
    kind: str
    title: str
    summary: str
    body: str
    url: str | None
    language: str
    campaign: str | None
    status: str
    countries: list[str]
    topics: list[str]
    publish_at: datetime | None
    published_at: datetime | None
    embargo_until: datetime | None = Field(
        description="While `embargoed`: when it lifts. Verified press already have it."
    )
    corrects_id: int | None
    created_at: datetime
    updated_at: datetime
    image: ImageRef | None = Field(description=IMAGE)
    attachments: list[AttachmentRef] = Field(description=ATTACHMENTS)
    notes: str | None = Field(description=NOTES)
    contacts: list[Contact] | None = Field(description=CONTACTS)
    import_problem: str | None = Field(
        None,
        description="Why a feed entry was left a draft (its lead photo could not be had); "
        "null once staff set a photo or publish.",
    )
    translations: list[TranslationOut] = Field(description=TRANSLATIONS)

    @classmethod
    def of(cls, item: Item) -> ItemOut:
        return cls(
            id=item.id,
            external_id=item.external_id,
            kind=item.kind,
            title=item.title,
            summary=item.summary,
            body=item.body,
            url=item.url,
            language=item.language,
            campaign=item.campaign,
            status=item.status,
            countries=item.countries,
            topics=item.topics,
            publish_at=item.publish_at,
            published_at=item.published_at,
            embargo_until=item.embargo_until,
            corrects_id=item.corrects_id,
            created_at=item.created_at,
            updated_at=item.updated_at,
            image=ImageRef.model_validate(item.image) if item.image else None,
            attachments=[AttachmentRef.model_validate(a) for a in item.attachments or []],
            notes=item.notes,
            contacts=(
                [Contact.model_validate(c) for c in item.contacts]
                if item.contacts is not None
                else None
            ),
            import_problem=item.import_problem,
            translations=[TranslationOut.of(t) for t in item.translation_rows],
        )


class ItemPage(BaseModel):
    items: list[ItemOut]
    total: int
    page: int
    per_page: int


class Schedule(ApiBody):
    model_config = ConfigDict(extra="forbid")

    publish_at: AwareDatetime


class Embargo(ApiBody):
    model_config = ConfigDict(extra="forbid")

    until: AwareDatetime = Field(description="When the embargo lifts; in the future.")


class TestSend(ApiBody):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)


class Correction(ApiBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(default=None, min_length=1, max_length=500)
    summary: str = Field(default="", max_length=5_000)
    body: str = Field(default="", max_length=100_000)
    # Left out: the original's. Given (null included): the correction's own.
    image: ImageRef | None = Field(default=None, description=IMAGE)
    attachments: list[AttachmentRef] | None = Field(
        default=None, max_length=20, description=ATTACHMENTS
    )
    notes: str | None = Field(default=None, max_length=20_000, description=NOTES)
    contacts: list[Contact] | None = Field(default=None, max_length=20, description=CONTACTS)
    translations: dict[str, TranslationFields] = Field(
        default_factory=dict, max_length=50, description=f"The correction's own. {TRANSLATIONS}"
    )

    _languages = field_validator("translations")(_known_languages)


class Defaults(ApiBody):
    """Notes to editors and media contacts for every item that has none of its own."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    notes: str = Field(default="", max_length=20_000, description="Markdown.")
    contacts: list[Contact] = Field(default_factory=list, max_length=20)


class DefaultsOut(Defaults):
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, row: NewsroomDefaults | None) -> DefaultsOut:
        if row is None:
            return cls(notes="", contacts=[], updated_at=None, updated_by=None)
        return cls(
            notes=row.notes,
            contacts=[Contact.model_validate(c) for c in row.contacts],
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )


class Reach(BaseModel):
    total: int
    by_country: dict[str, int]
    by_topic: dict[str, int]


class Accepted(BaseModel):
    status: str
    detail: str = ""


class Withdrawn(BaseModel):
    item: ItemOut
    cancelled: int


class DeliveryOut(BaseModel):
    id: int
    journalist_id: int
    email: str | None
    status: str
    attempts: int
    last_reply: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None
    message_id: str | None


class Progress(BaseModel):
    item_id: int
    total: int
    counts: dict[str, int]
    deliveries: list[DeliveryOut]
    page: int
    per_page: int


class SubscriptionOut(BaseModel):
    countries: list[str]
    topics: list[str]
    cadence: str


class JournalistOut(BaseModel):
    id: int
    email: str | None
    name: str
    outlet: str
    language: str
    status: str
    created_at: datetime
    subscriptions: list[SubscriptionOut]
    timezone: str = Field(description="IANA time zone: digests arrive on its clock.")
    digest_time: str = Field(description="Local time of the digests, HH:MM.")
    digest_weekday: int = Field(description="Day of the weekly digest, 0 = Monday.")
    verified_at: datetime | None = Field(description="Verified press since (embargoed items).")
    verified_by: str | None

    @classmethod
    def of(cls, j: Journalist) -> JournalistOut:
        return cls(
            id=j.id,
            email=j.email,
            name=j.name,
            outlet=j.outlet,
            language=j.language,
            status=j.status,
            created_at=j.created_at,
            subscriptions=[
                SubscriptionOut(countries=s.countries, topics=s.topics, cadence=s.cadence)
                for s in j.subscriptions
            ],
            timezone=j.timezone,
            digest_time=format_minute(j.digest_minute),
            digest_weekday=j.digest_weekday,
            verified_at=j.verified_at,
            verified_by=j.verified_by,
        )


class JournalistPage(BaseModel):
    journalists: list[JournalistOut]
    total: int
    page: int
    per_page: int


class ImportResult(BaseModel):
    journalists_created: int
    journalists_updated: int
    subscriptions_added: int
    skipped: list[str]


class KeyCreate(ApiBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=100)
    role: Literal["publisher", "operator", "admin"]


class KeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewKey(KeyOut):
    key: str = Field(description="Shown once; only its hash is kept.")


class Problem(BaseModel):
    detail: str


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(BaseModel):
    detail: list[FieldProblem]


class CsvProblem(FieldProblem):
    line: int = Field(description="Line of the file (1 is the header)")
    column: str | None = Field(description="The column at fault, when it is one column")
    message: str


class CsvImportProblem(BaseModel):
    detail: list[CsvProblem] = Field(description="The first 100 problems, in file order")
    total: int = Field(description="Every problem found, shown or not")
    bad_rows: int
