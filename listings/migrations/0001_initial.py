import django.contrib.postgres.indexes
import django.contrib.postgres.search
import django.db.models.deletion
import django.db.models.functions.comparison
import django.db.models.functions.datetime
import django.db.models.lookups
import listings.models
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
            name='Category',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('name', models.CharField(max_length=100)),
                ('slug', models.SlugField(db_index=False, max_length=100)),
                ('icon', models.CharField(blank=True, max_length=50)),
                ('sort_order', models.IntegerField(default=0)),
                ('attribute_schema', models.JSONField(blank=True, default=list)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('parent', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='children', to='listings.category')),
            ],
            options={
                'verbose_name_plural': 'categories',
                'ordering': ['sort_order', 'name'],
            },
        ),
        migrations.CreateModel(
            name='Listing',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('title', models.CharField(max_length=255)),
                ('slug', models.SlugField(db_index=False, max_length=255)),
                ('description', models.TextField()),
                ('price_cents', models.BigIntegerField(blank=True, help_text='Empty: contact for price.', null=True)),
                ('currency', models.CharField(default='USD', max_length=3)),
                ('pricing_type', models.CharField(choices=[('fixed', 'Fixed price'), ('negotiable', 'Negotiable'), ('hourly', 'Hourly'), ('project', 'Per project')], default='fixed', max_length=20)),
                ('attributes', models.JSONField(blank=True, default=dict)),
                ('images', models.JSONField(blank=True, default=list)),
                ('videos', models.JSONField(blank=True, default=list)),
                ('primary_image_url', models.TextField(blank=True)),
                ('location_country', models.CharField(blank=True, max_length=2)),
                ('location_city', models.CharField(blank=True, max_length=100)),
                ('location_lat', models.DecimalField(blank=True, decimal_places=8, max_digits=10, null=True)),
                ('location_lng', models.DecimalField(blank=True, decimal_places=8, max_digits=11, null=True)),
                ('status', models.CharField(choices=[('draft', 'Draft'), ('active', 'Active'), ('reserved', 'Reserved'), ('sold', 'Sold'), ('archived', 'Archived')], default='draft', max_length=20)),
                ('visibility', models.CharField(choices=[('public', 'Public'), ('unlisted', 'Unlisted'), ('private', 'Private')], default='public', max_length=20)),
                ('share_token', models.CharField(default=listings.models.new_share_token, editable=False, help_text="Unguessable part of an unlisted listing's URL.", max_length=32)),
                ('featured', models.BooleanField(default=False)),
                ('featured_until', models.DateTimeField(blank=True, null=True)),
                ('meta_title', models.CharField(blank=True, max_length=60)),
                ('meta_description', models.CharField(blank=True, max_length=160)),
                ('view_count', models.BigIntegerField(default=0)),
                ('favorite_count', models.IntegerField(default=0)),
                ('inquiry_count', models.IntegerField(default=0)),
                ('search_vector', django.contrib.postgres.search.SearchVectorField(editable=False, null=True)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('updated_at', marketplace.db.UpdatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('published_at', models.DateTimeField(blank=True, null=True)),
                ('sold_at', models.DateTimeField(blank=True, null=True)),
                ('category', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='listings', to='listings.category')),
                ('seller', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='listings', to=settings.AUTH_USER_MODEL)),
            ],
            bases=(marketplace.db.TriggerManagedFieldsMixin, models.Model),
        ),
        migrations.CreateModel(
            name='Favorite',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('created_at', marketplace.db.CreatedAtField(db_default=django.db.models.functions.datetime.Now(), editable=False)),
                ('user', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='favorites', to=settings.AUTH_USER_MODEL)),
                ('listing', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='favorites', to='listings.listing')),
            ],
        ),
        migrations.AddConstraint(
            model_name='category',
            constraint=models.UniqueConstraint(fields=('slug',), name='listings_category_slug_unique'),
        ),
        migrations.AddConstraint(
            model_name='category',
            constraint=models.CheckConstraint(condition=models.Q(('parent', models.F('id')), _negated=True), name='listings_category_not_own_parent'),
        ),
        migrations.AddConstraint(
            model_name='category',
            constraint=models.CheckConstraint(condition=django.db.models.lookups.Exact(models.Func(models.F('attribute_schema'), function='jsonb_typeof', output_field=models.TextField()), 'array'), name='listings_category_attribute_schema_is_array'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=models.Index(models.F('seller'), models.OrderBy(models.F('created_at'), descending=True), name='listing_seller_created'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=models.Index(models.F('category'), models.F('status'), models.OrderBy(models.F('published_at'), descending=True), name='listing_category_status_pub'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=models.Index(models.OrderBy(models.F('published_at'), descending=True), condition=models.Q(('status', 'active'), ('visibility', 'public')), name='listings_listing_active_newest'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=models.Index(models.OrderBy(models.F('created_at'), descending=True), name='listings_listing_created'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=models.Index(condition=models.Q(('featured', True)), fields=['featured', 'featured_until'], name='listings_listing_featured'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=django.contrib.postgres.indexes.GinIndex(django.contrib.postgres.indexes.OpClass(models.F('attributes'), name='jsonb_path_ops'), name='listings_listing_attributes'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=django.contrib.postgres.indexes.GinIndex(fields=['search_vector'], name='listings_listing_search'),
        ),
        migrations.AddIndex(
            model_name='listing',
            index=django.contrib.postgres.indexes.GistIndex(models.Func(django.db.models.functions.comparison.Cast('location_lat', models.FloatField()), django.db.models.functions.comparison.Cast('location_lng', models.FloatField()), function='ll_to_earth', output_field=models.Field()), condition=models.Q(('location_lat__isnull', False)), name='listings_listing_location'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.UniqueConstraint(fields=('slug',), name='listings_listing_slug_unique'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.UniqueConstraint(fields=('share_token',), name='listings_listing_share_token_unique'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['draft', 'active', 'reserved', 'sold', 'archived'])), name='listings_listing_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(('visibility__in', ['public', 'unlisted', 'private'])), name='listings_listing_visibility_valid'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(('pricing_type__in', ['fixed', 'negotiable', 'hourly', 'project'])), name='listings_listing_pricing_type_valid'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(('currency__regex', '^[A-Z]{3}$')), name='listings_listing_currency_iso4217'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(('price_cents__isnull', True), ('price_cents__gte', 0), _connector='OR'), name='listings_listing_price_non_negative'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(('favorite_count__gte', 0), ('inquiry_count__gte', 0), ('view_count__gte', 0)), name='listings_listing_counters_non_negative'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('location_lat__isnull', True), ('location_lng__isnull', True)), models.Q(('location_lat__gte', -90), ('location_lat__lte', 90), ('location_lng__gte', -180), ('location_lng__lte', 180)), _connector='OR'), name='listings_listing_location_valid'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status__in', ['active', 'reserved', 'sold']), _negated=True), ('published_at__isnull', False), _connector='OR'), name='listings_listing_published_has_published_at'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('status', 'sold'), _negated=True), ('sold_at__isnull', False), _connector='OR'), name='listings_listing_sold_has_sold_at'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=django.db.models.lookups.Exact(models.Func(models.F('attributes'), function='jsonb_typeof', output_field=models.TextField()), 'object'), name='listings_listing_attributes_is_object'),
        ),
        migrations.AddConstraint(
            model_name='listing',
            constraint=models.CheckConstraint(condition=models.Q(django.db.models.lookups.Exact(models.Func(models.F('images'), function='jsonb_typeof', output_field=models.TextField()), 'array'), django.db.models.lookups.Exact(models.Func(models.F('videos'), function='jsonb_typeof', output_field=models.TextField()), 'array')), name='listings_listing_media_are_arrays'),
        ),
        migrations.AddIndex(
            model_name='favorite',
            index=models.Index(models.F('user'), models.OrderBy(models.F('created_at'), descending=True), name='listings_favorite_user_created'),
        ),
        migrations.AddConstraint(
            model_name='favorite',
            constraint=models.UniqueConstraint(fields=('user', 'listing'), name='listings_favorite_unique'),
        ),
    ]
