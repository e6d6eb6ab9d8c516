-- Where a person's messages go when the platform has shared channels beside private
-- chats (Discord): the chat is the person; `last_channel` is the server channel they
-- last used the bot in (where the bot asks them to open their DMs when it cannot write
-- to them), `notify_channel` the channel they chose for updates instead of DMs.
ALTER TABLE chats ADD COLUMN last_channel TEXT;
ALTER TABLE chats ADD COLUMN notify_channel TEXT;
