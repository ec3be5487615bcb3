{#- Delta's change data feed as the input of an incremental model. The model
    records, in a table property of its own (`record_read_version` as a
    post_hook), the version of the upstream table its build read; its next
    run asks `changed_rows` for what changed in the upstream since. Recording
    after the build, not before: a build that fails records nothing, and the
    next run reads the same changes again. -#}

{% macro change_feed_property(upstream) -%}
    retailnova.read_version.{{ upstream.schema }}.{{ upstream.identifier }}
{%- endmacro %}


{#- The oldest and the newest version a Delta table's log still holds. -#}
{% macro delta_versions(relation) %}
    {%- set versions = run_query('describe history ' ~ relation).columns['version'].values() -%}
    {{ return((versions | min, versions | max)) }}
{% endmacro %}


{% macro table_property(relation, key) %}
    {%- for row in run_query('show tblproperties ' ~ relation) -%}
        {%- if row[0] == key -%}
            {{ return(row[1]) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{% endmacro %}


{#- A post_hook: the version of `upstream` this build read, or -1 when the
    upstream has no change data feed (the next run then reads it whole). The
    run holds the home's lock, so nothing wrote the upstream since the build
    read it. -#}
{% macro record_read_version(upstream) %}
    {%- if execute -%}
        {%- set newest = delta_versions(upstream)[1] -%}
        {%- set feed = table_property(upstream, 'delta.enableChangeDataFeed') == 'true' -%}
        alter table {{ this }} set tblproperties (
            '{{ change_feed_property(upstream) }}' = '{{ newest if feed else -1 }}'
        )
    {%- endif -%}
{% endmacro %}


{#- SQL for the rows of `upstream` inserted, updated (both images) or deleted
    since this model recorded its read; none when the feed cannot say: no
    version recorded, the feed off, or the log no longer holding the next
    version (the caller then reads the upstream whole). -#}
{% macro changed_rows(upstream) %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set recorded = table_property(this, change_feed_property(upstream)) -%}
    {%- set read = recorded | int if recorded is not none else -1 -%}
    {%- set oldest, newest = delta_versions(upstream) -%}
    {%- set feed = table_property(upstream, 'delta.enableChangeDataFeed') == 'true' -%}
    {%- if read < 0 or not feed or read + 1 < oldest -%}
        {{ log(this ~ ": no change data of " ~ upstream ~ " since version " ~ read
            ~ " (feed " ~ ("on" if feed else "off") ~ ", log from version " ~ oldest
            ~ "): reading it whole", info=true) }}
        {{ return(none) }}
    {%- elif read >= newest -%}
        {{ return('select *, cast(null as string) as _change_type from ' ~ upstream ~ ' where false') }}
    {%- endif -%}
    {#- By path: in a query that also reads the table by name, Spark resolves
        table_changes('schema.table', ...) to the table itself. -#}
    {%- set location = run_query('describe detail ' ~ upstream).columns['location'].values()[0] -%}
    {{ return("select * from table_changes_by_path('" ~ location ~ "', " ~ (read + 1) ~ ", "
        ~ newest ~ ")") }}
{% endmacro %}
