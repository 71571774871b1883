/** Every operation of the node, by resource and operation value (the router's table). */
import { create } from './folder/create';
import { deleteFolderOperation } from './folder/delete';
import { getMany } from './folder/getMany';
import { getStatus } from './folder/getStatus';
import { rename } from './folder/rename';
import { append } from './message/append';
import { createDraft } from './message/createDraft';
import { deleteMessage } from './message/delete';
import { flag, markAsRead, markAsUnread, unflag } from './message/flags';
import { get } from './message/get';
import { addLabels, removeLabels } from './message/labels';
import { copy, move } from './message/move';
import { search } from './message/search';
import type { Operation } from './types';

export const OPERATIONS: Readonly<Record<'folder' | 'message', Readonly<Record<string, Operation>>>> = {
	folder: { getMany, getStatus, create, rename, delete: deleteFolderOperation },
	message: { search, get, markAsRead, markAsUnread, flag, unflag, move, copy, delete: deleteMessage, addLabels, removeLabels, createDraft, append },
};
