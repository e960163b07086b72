"""Model fields for money: a currency column plus one or more amount columns.

A row holds one currency (``CurrencyField``) and any number of amounts in that
currency (``MoneyField``), each a ``BIGINT`` of minor units. Reading a
``MoneyField`` attribute gives a :class:`~payor.core.money.Money`; assigning a
``Money`` checks (or, when unset, sets) the row's currency, so an amount can
never be stored against the wrong currency. Lookups take ``Money`` or plain
minor-unit integers::

    class FundingEvent(BaseModel):
        currency = CurrencyField()
        amount = MoneyField(currency_field="currency")

    event.amount = Money.parse("1500.00", "USD")
    FundingEvent.objects.filter(amount__gte=Money.parse("1000", "USD"))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core import checks
from django.core.exceptions import ValidationError
from django.db import models

from payor.core.money import CurrencyMismatch, Money, MoneyError, get_currency

if TYPE_CHECKING:
    # Reading a MoneyField gives Money; assigning takes Money (or raw minor units from the database).
    _MoneyBase = models.BigIntegerField[Money | int, Money]
    _CurrencyBase = models.CharField[str, str]
else:
    _MoneyBase = models.BigIntegerField
    _CurrencyBase = models.CharField


class CurrencyField(_CurrencyBase):
    """An ISO 4217 or token code from the Money currency table."""

    description = "Currency code"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 10)
        super().__init__(*args, **kwargs)

    def validate(self, value: Any, model_instance: models.Model | None) -> None:
        super().validate(value, model_instance)
        try:
            get_currency(value)
        except MoneyError as exc:
            raise ValidationError(str(exc), code="currency_unknown") from exc


class _MoneyDescriptor:
    def __init__(self, field: MoneyField) -> None:
        self.field = field

    def __get__(self, instance: models.Model | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        minor = instance.__dict__.get(self.field.attname)
        if minor is None:
            return None
        code = getattr(instance, self.field.currency_field)
        return Money.of_minor(minor, code)

    def __set__(self, instance: models.Model, value: Any) -> None:
        if isinstance(value, Money):
            current = instance.__dict__.get(self.field.currency_field)
            if current and current != value.currency.code:
                raise CurrencyMismatch(
                    f"{self.field.name} is in {current}, cannot store an amount in {value.currency.code}"
                )
            if not current:
                setattr(instance, self.field.currency_field, value.currency.code)
            instance.__dict__[self.field.attname] = value.minor
        else:
            # Raw minor units from the database (or None).
            instance.__dict__[self.field.attname] = value


class MoneyField(_MoneyBase):
    """An amount in minor units whose currency is another column of the same row."""

    description = "Amount in minor units"

    def __init__(self, *args: Any, currency_field: str = "currency", **kwargs: Any) -> None:
        self.currency_field = currency_field
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["currency_field"] = self.currency_field
        return name, path, args, kwargs

    def contribute_to_class(self, cls: type[models.Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only)
        setattr(cls, self.attname, _MoneyDescriptor(self))

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        names = {f.name for f in self.model._meta.get_fields()}
        if self.currency_field not in names:
            errors.append(
                checks.Error(
                    f"MoneyField {self.name} names currency_field {self.currency_field!r}, which is not a field",
                    obj=self,
                    id="payor.E001",
                )
            )
        return errors

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Money):
            return value.minor
        if isinstance(value, float):
            raise TypeError("floats are not accepted for money")
        return super().get_prep_value(value)

    def value_from_object(self, obj: models.Model) -> Any:
        return obj.__dict__.get(self.attname)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, Money):
            return value.minor
        return super().to_python(value)
