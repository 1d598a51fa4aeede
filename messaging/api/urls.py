from console.api.routes import api_path
from messaging.api import views

P = "imessage"

urlpatterns = [
    *api_path(f"{P}/conversations", views.ConversationListApi.as_view(), "imessage-conversations"),
    *api_path(
        f"{P}/conversations/<uuid:conversation_id>",
        views.ConversationDetailApi.as_view(),
        "imessage-conversation",
    ),
    *api_path(
        f"{P}/conversations/<uuid:conversation_id>/threads/<uuid:thread_id>",
        views.ConversationThreadApi.as_view(),
        "imessage-conversation-thread",
    ),
    *api_path(f"{P}/messages", views.MessageListSendApi.as_view(), "imessage-messages"),
    *api_path(
        f"{P}/messages/<uuid:message_id>", views.MessageDetailApi.as_view(), "imessage-message"
    ),
    *api_path(
        f"{P}/messages/<uuid:message_id>/thread",
        views.MessageThreadApi.as_view(),
        "imessage-message-thread",
    ),
    *api_path(f"{P}/reactions", views.ReactionCreateApi.as_view(), "imessage-reactions"),
    *api_path(
        f"{P}/reactions/<uuid:reaction_id>",
        views.ReactionDeleteApi.as_view(),
        "imessage-reaction",
    ),
    *api_path(f"{P}/mark-read", views.MarkReadApi.as_view(), "imessage-mark-read"),
    *api_path(f"{P}/typing", views.TypingApi.as_view(), "imessage-typing"),
    *api_path(f"{P}/media", views.MediaUploadApi.as_view(), "imessage-media"),
]
