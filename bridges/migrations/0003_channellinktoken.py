"""SlackLinkToken becomes ChannelLinkToken: one link-token table for Slack and WhatsApp.

A rename, not a new table, so links already sent to Slack keep working; they are all Slack's.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("bridges", "0002_whatsappinbound"),
    ]

    operations = [
        migrations.RenameModel(old_name="SlackLinkToken", new_name="ChannelLinkToken"),
        migrations.AddField(
            model_name="channellinktoken",
            name="provider",
            field=models.CharField(
                choices=[("slack", "Slack"), ("whatsapp", "WhatsApp")], default="slack", max_length=16
            ),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="channellinktoken",
            name="workspace",
            field=models.CharField(
                help_text="Slack workspace (team) id, or the WhatsApp business phone number id.", max_length=64
            ),
        ),
        migrations.AlterField(
            model_name="channellinktoken",
            name="external_user_id",
            field=models.CharField(help_text="Slack user id, or the WhatsApp number.", max_length=64),
        ),
    ]
