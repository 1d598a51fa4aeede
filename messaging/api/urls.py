from console.api.routes import api_path
from messaging.api import clinic, views

# (path under `api/v1/imessage/` (`console/urls.py`), view, route name), the busiest first:
# sends and message reads.
_ROUTES = [
    ("messages", views.MessageListSendApi, "imessage-messages"),
    ("conversations", views.ConversationListApi, "imessage-conversations"),
    ("conversations/<uuid:conversation_id>", views.ConversationDetailApi, "imessage-conversation"),
    (
        "conversations/<uuid:conversation_id>/threads/<uuid:thread_id>",
        views.ConversationThreadApi,
        "imessage-conversation-thread",
    ),
    (
        "conversations/<uuid:conversation_id>/handoff",
        clinic.ConversationHandoffApi,
        "imessage-conversation-handoff",
    ),
    ("opt-outs", clinic.OptOutListApi, "imessage-opt-outs"),
    ("messages/<uuid:message_id>", views.MessageDetailApi, "imessage-message"),
    ("messages/<uuid:message_id>/thread", views.MessageThreadApi, "imessage-message-thread"),
    ("reactions", views.ReactionCreateApi, "imessage-reactions"),
    ("reactions/<uuid:reaction_id>", views.ReactionDeleteApi, "imessage-reaction"),
    ("mark-read", views.MarkReadApi, "imessage-mark-read"),
    ("typing", views.TypingApi, "imessage-typing"),
    ("media", views.MediaUploadApi, "imessage-media"),
]

urlpatterns = [
    pattern for path, view, name in _ROUTES for pattern in api_path(path, view.as_view(), name)
]
