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
        ('listings', '0001_initial'),
        ('payments', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Review',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('reviewer_type', models.CharField(choices=[('buyer', 'Buyer'), ('seller', 'Seller')], max_length=10)),
                ('rating', models.SmallIntegerField()),
                ('title', models.CharField(blank=True, max_length=100)),
                ('comment', models.TextField(blank=True)),
                ('rating_communication', models.SmallIntegerField(blank=True, null=True)),
                ('rating_quality', models.SmallIntegerField(blank=True, null=True)),
                ('rating_delivery', models.SmallIntegerField(blank=True, null=True)),
                ('response', models.TextField(blank=True)),
                ('responded_at', models.DateTimeField(blank=True, null=True)),
                ('is_verified', models.BooleanField(default=False, help_text='Verified purchase.')),
                ('is_featured', models.BooleanField(default=False)),
                ('status', models.CharField(choices=[('active', 'Active'), ('flagged', 'Flagged'), ('removed', 'Removed')], default='active', max_length=20)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('updated_at', marketplace.db.UpdatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('listing', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='reviews', to='listings.listing')),
                ('reviewee', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='reviews_received', to=settings.AUTH_USER_MODEL)),
                ('reviewer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='reviews_written', to=settings.AUTH_USER_MODEL)),
                ('transaction', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='reviews', to='payments.transaction')),
            ],
            options={
                'indexes': [models.Index(models.F('reviewee'), models.OrderBy(models.F('created_at'), descending=True), name='review_reviewee_created')],
                'constraints': [models.CheckConstraint(condition=models.Q(('rating__gte', 1), ('rating__lte', 5)), name='reviews_review_rating_range'), models.CheckConstraint(condition=models.Q(models.Q(('rating_communication__gte', 1), ('rating_communication__lte', 5)), ('rating_communication__isnull', True), _connector='OR'), name='reviews_review_communication_range'), models.CheckConstraint(condition=models.Q(models.Q(('rating_quality__gte', 1), ('rating_quality__lte', 5)), ('rating_quality__isnull', True), _connector='OR'), name='reviews_review_quality_range'), models.CheckConstraint(condition=models.Q(models.Q(('rating_delivery__gte', 1), ('rating_delivery__lte', 5)), ('rating_delivery__isnull', True), _connector='OR'), name='reviews_review_delivery_range'), models.CheckConstraint(condition=models.Q(('reviewer_type__in', ['buyer', 'seller'])), name='reviews_review_reviewer_type_valid'), models.CheckConstraint(condition=models.Q(('status__in', ['active', 'flagged', 'removed'])), name='reviews_review_status_valid'), models.CheckConstraint(condition=models.Q(('reviewer', models.F('reviewee')), _negated=True), name='reviews_review_not_self'), models.UniqueConstraint(fields=('transaction', 'reviewer'), name='reviews_review_once_per_party')],
            },
        ),
    ]
