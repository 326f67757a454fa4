import django.db.models.deletion
import django.db.models.expressions
import django.db.models.functions.datetime
import marketplace.db
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("marketplace", "0001_extensions_and_shared_functions"),
        ('listings', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Transaction',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('subtotal_cents', models.BigIntegerField()),
                ('platform_fee_cents', models.BigIntegerField()),
                ('processing_fee_cents', models.BigIntegerField(default=0)),
                ('total_cents', models.BigIntegerField()),
                ('seller_payout_cents', models.BigIntegerField()),
                ('currency', models.CharField(default='USD', max_length=3)),
                ('payment_provider', models.CharField(choices=[('stripe', 'Stripe'), ('paypal', 'PayPal')], default='stripe', max_length=20)),
                ('payment_intent_id', models.CharField(blank=True, max_length=255, null=True)),
                ('charge_id', models.CharField(blank=True, max_length=255)),
                ('transfer_id', models.CharField(blank=True, max_length=255)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('processing', 'Processing'), ('completed', 'Completed'), ('cancelled', 'Cancelled'), ('refunded', 'Refunded'), ('disputed', 'Disputed')], default='pending', max_length=20)),
                ('escrow_release_date', models.DateTimeField(blank=True, null=True)),
                ('escrow_released_at', models.DateTimeField(blank=True, null=True)),
                ('buyer_note', models.TextField(blank=True)),
                ('seller_note', models.TextField(blank=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('updated_at', marketplace.db.UpdatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('cancelled_at', models.DateTimeField(blank=True, null=True)),
                ('buyer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='purchases', to=settings.AUTH_USER_MODEL)),
                ('listing', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='transactions', to='listings.listing')),
                ('seller', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='sales', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(models.F('buyer'), models.OrderBy(models.F('created_at'), descending=True), name='txn_buyer_created'), models.Index(models.F('seller'), models.OrderBy(models.F('created_at'), descending=True), name='txn_seller_created'), models.Index(models.OrderBy(models.F('created_at'), descending=True), name='payments_transaction_created'), models.Index(condition=models.Q(('escrow_released_at__isnull', True), ('status', 'processing')), fields=['escrow_release_date'], name='txn_escrow_due')],
                'constraints': [models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'processing', 'completed', 'cancelled', 'refunded', 'disputed'])), name='payments_transaction_status_valid'), models.CheckConstraint(condition=models.Q(('payment_provider__in', ['stripe', 'paypal'])), name='payments_transaction_provider_valid'), models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='payments_transaction_currency_iso4217'), models.CheckConstraint(condition=models.Q(('platform_fee_cents__gte', 0), ('processing_fee_cents__gte', 0), ('seller_payout_cents__gte', 0), ('subtotal_cents__gte', 0), ('total_cents__gte', 0)), name='payments_transaction_amounts_non_negative'), models.CheckConstraint(condition=models.Q(('seller_payout_cents', django.db.models.expressions.CombinedExpression(models.F('subtotal_cents'), '-', models.F('platform_fee_cents')))), name='payments_transaction_payout_is_subtotal_less_fee'), models.CheckConstraint(condition=models.Q(('total_cents', models.F('subtotal_cents'))), name='payments_transaction_total_is_subtotal'), models.CheckConstraint(condition=models.Q(('buyer', models.F('seller')), _negated=True), name='payments_transaction_buyer_is_not_seller'), models.UniqueConstraint(condition=models.Q(('payment_intent_id__isnull', False)), fields=('payment_intent_id',), name='payments_transaction_payment_intent_unique'), models.UniqueConstraint(condition=models.Q(('status__in', ['pending', 'processing', 'completed', 'disputed'])), fields=('listing',), name='payments_transaction_one_live_per_listing')],
            },
        ),
    ]
