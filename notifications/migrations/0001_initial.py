import django.db.models.deletion
import django.db.models.functions.datetime
import marketplace.db
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("marketplace", "0001_extensions_and_shared_functions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Notification',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('type', models.CharField(choices=[('new_message', 'New message'), ('review_received', 'Review received'), ('review_requested', 'Review requested'), ('listing_sold', 'Listing sold'), ('listing_favorited', 'Listing favorited'), ('purchase_confirmed', 'Purchase confirmed'), ('payment_received', 'Payment received'), ('payout_sent', 'Payout sent'), ('refund_issued', 'Refund issued'), ('account', 'Account')], max_length=50)),
                ('title', models.CharField(max_length=255)),
                ('message', models.TextField(blank=True)),
                ('link_url', models.TextField(blank=True)),
                ('link_text', models.CharField(blank=True, max_length=100)),
                ('read_at', models.DateTimeField(blank=True, null=True)),
                ('metadata', models.JSONField(blank=True, default=dict)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(models.F('user'), models.OrderBy(models.F('created_at'), descending=True), name='notifications_user_created'), models.Index(models.F('user'), models.OrderBy(models.F('created_at'), descending=True), condition=models.Q(('read_at__isnull', True)), name='notifications_user_unread')],
                'constraints': [models.CheckConstraint(condition=models.Q(('type__in', ['new_message', 'review_received', 'review_requested', 'listing_sold', 'listing_favorited', 'purchase_confirmed', 'payment_received', 'payout_sent', 'refund_issued', 'account'])), name='notifications_notification_type_valid')],
            },
        ),
    ]
