-- Who made a plan change still in progress, when not the owner: a resumed administrator's
-- downgrade pays its refund in the administrator's name, as an uninterrupted one does.
ALTER TABLE subscriptions ADD COLUMN plan_change_actor uuid REFERENCES users (id);
