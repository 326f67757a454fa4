import django.db.models.deletion
import django.db.models.functions.datetime
import django.db.models.functions.text
import django.db.models.lookups
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
            name='Conversation',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('status', models.CharField(choices=[('active', 'Active'), ('archived', 'Archived'), ('spam', 'Spam')], default='active', max_length=20)),
                ('subject', models.CharField(blank=True, max_length=255)),
                ('last_message_at', models.DateTimeField(blank=True, editable=False, null=True)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('updated_at', marketplace.db.UpdatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('buyer', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='conversations_as_buyer', to=settings.AUTH_USER_MODEL)),
                ('listing', models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='conversations', to='listings.listing')),
                ('seller', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='conversations_as_seller', to=settings.AUTH_USER_MODEL)),
            ],
            bases=(marketplace.db.TriggerManagedFieldsMixin, models.Model),
        ),
        migrations.CreateModel(
            name='Message',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('message', models.TextField()),
                ('attachments', models.JSONField(blank=True, default=list)),
                ('read_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('conversation', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='messages', to='messaging.conversation')),
                ('sender', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='messages_sent', to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(models.F('buyer'), models.OrderBy(models.F('last_message_at'), descending=True, nulls_last=True), name='messaging_conv_buyer_last'),
        ),
        migrations.AddIndex(
            model_name='conversation',
            index=models.Index(models.F('seller'), models.OrderBy(models.F('last_message_at'), descending=True, nulls_last=True), name='messaging_conv_seller_last'),
        ),
        migrations.AddConstraint(
            model_name='conversation',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['active', 'archived', 'spam'])), name='messaging_conversation_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='conversation',
            constraint=models.CheckConstraint(condition=models.Q(('buyer', models.F('seller')), _negated=True), name='messaging_conversation_buyer_is_not_seller'),
        ),
        migrations.AddConstraint(
            model_name='conversation',
            constraint=models.UniqueConstraint(fields=('listing', 'buyer', 'seller'), name='messaging_conversation_unique', nulls_distinct=False),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(fields=['conversation', 'created_at', 'id'], name='messaging_message_conv_created'),
        ),
        migrations.AddConstraint(
            model_name='message',
            constraint=models.CheckConstraint(condition=django.db.models.lookups.GreaterThan(django.db.models.functions.text.Length(django.db.models.functions.text.Trim('message')), 0), name='messaging_message_not_blank'),
        ),
    ]
