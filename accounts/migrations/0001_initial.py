import accounts.models
import django.db.models.functions.datetime
import django.db.models.functions.text
import marketplace.db
import uuid
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("marketplace", "0001_extensions_and_shared_functions"),
        ('auth', '0012_alter_user_first_name_max_length'),
    ]

    operations = [
        migrations.CreateModel(
            name='User',
            fields=[
                ('password', models.CharField(max_length=128, verbose_name='password')),
                ('last_login', models.DateTimeField(blank=True, null=True, verbose_name='last login')),
                ('is_superuser', models.BooleanField(default=False, help_text='Designates that this user has all permissions without explicitly assigning them.', verbose_name='superuser status')),
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('email', models.EmailField(max_length=255)),
                ('email_verified_at', models.DateTimeField(blank=True, null=True)),
                ('first_name', models.CharField(blank=True, max_length=100)),
                ('last_name', models.CharField(blank=True, max_length=100)),
                ('avatar', models.ImageField(blank=True, max_length=255, upload_to='avatars/%Y/%m/')),
                ('bio', models.TextField(blank=True)),
                ('is_seller', models.BooleanField(default=False)),
                ('is_staff', models.BooleanField(default=False)),
                ('is_active', models.BooleanField(default=True)),
                ('seller_verified_at', models.DateTimeField(blank=True, null=True)),
                ('stripe_connect_id', models.CharField(blank=True, max_length=255, null=True)),
                ('total_sales_count', models.PositiveIntegerField(default=0)),
                ('seller_rating', models.DecimalField(blank=True, decimal_places=2, max_digits=3, null=True)),
                ('seller_rating_sum', models.BigIntegerField(default=0)),
                ('seller_rating_count', models.IntegerField(default=0)),
                ('buyer_rating', models.DecimalField(blank=True, decimal_places=2, max_digits=3, null=True)),
                ('buyer_rating_sum', models.BigIntegerField(default=0)),
                ('buyer_rating_count', models.IntegerField(default=0)),
                ('phone_number', models.CharField(blank=True, max_length=20)),
                ('phone_verified_at', models.DateTimeField(blank=True, null=True)),
                ('kyc_verified_at', models.DateTimeField(blank=True, null=True)),
                ('account_status', models.CharField(choices=[('active', 'Active'), ('suspended', 'Suspended'), ('banned', 'Banned')], default='active', max_length=20)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('updated_at', marketplace.db.UpdatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('groups', models.ManyToManyField(blank=True, help_text='The groups this user belongs to. A user will get all permissions granted to each of their groups.', related_name='user_set', related_query_name='user', to='auth.group', verbose_name='groups')),
                ('user_permissions', models.ManyToManyField(blank=True, help_text='Specific permissions for this user.', related_name='user_set', related_query_name='user', to='auth.permission', verbose_name='user permissions')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('is_seller', True)), fields=['created_at'], name='accounts_user_sellers'), models.Index(condition=models.Q(('account_status', 'active'), _negated=True), fields=['account_status'], name='accounts_user_not_active')],
                'constraints': [models.UniqueConstraint(django.db.models.functions.text.Upper('email'), name='accounts_user_email_ci_unique'), models.CheckConstraint(condition=models.Q(('account_status__in', ['active', 'suspended', 'banned'])), name='accounts_user_account_status_valid'), models.CheckConstraint(condition=models.Q(('seller_rating_count__gte', 0), ('seller_rating_sum__gte', 0), ('buyer_rating_count__gte', 0), ('buyer_rating_sum__gte', 0)), name='accounts_user_rating_totals_non_negative'), models.CheckConstraint(condition=models.Q(('seller_rating__isnull', True), models.Q(('seller_rating__gte', 1), ('seller_rating__lte', 5)), _connector='OR'), name='accounts_user_seller_rating_range'), models.CheckConstraint(condition=models.Q(('buyer_rating__isnull', True), models.Q(('buyer_rating__gte', 1), ('buyer_rating__lte', 5)), _connector='OR'), name='accounts_user_buyer_rating_range'), models.UniqueConstraint(condition=models.Q(('stripe_connect_id__isnull', False)), fields=('stripe_connect_id',), name='accounts_user_stripe_connect_unique')],
            },
            bases=(marketplace.db.TriggerManagedFieldsMixin, models.Model),
            managers=[
                ('objects', accounts.models.UserManager()),
            ],
        ),
    ]
